//! Alert messages as people read them: the subject sequence of one alert leads with its state,
//! chat text cannot mention or link on its own, values read like numbers people use, and every
//! message kind matches its reviewed snapshot in `tests/snapshots/alerts/`
//! (`UPDATE_SNAPSHOTS=1 cargo test --lib report::alert` rewrites them; read the diff before
//! committing).

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::*;
use crate::core::alert::Acknowledgement;
use crate::core::message::GroupLine;
use crate::plan::{self, Plan};
use crate::report::alert_group;

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

[[prometheus]]
id = "prod"
url = "http://127.0.0.1:9090"

[[risks]]
id = "payment"
title = "Payment provider outage"
likelihood = "medium"
impact = "high"
contingency = "Switch the payment feature flag to the backup provider (checkout.provider = backup)."
owner = "jonas"
checks = ["errors"]

[[checks]]
id = "errors"
name = "Checkout error rate"
kind = "prometheus"
severity = "critical"
query = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'
threshold = "> 0.05"

[[checks]]
id = "front"
name = "Shop front page"
kind = "http"
url = "https://ops:hunter2@shop.example/health?token=abc123#x"

[[checks]]
id = "latency"
name = "Checkout p99 latency"
kind = "prometheus"
query = 'histogram_quantile(0.99, sum by (le) (rate(checkout_duration_seconds_bucket[5m])))'
threshold = "> 0.8"

[[channels]]
id = "email"
kind = "email"
"#;

fn the_plan() -> Plan {
    let dir = std::env::temp_dir();
    plan::parse(PLAN, &dir.join("plan.toml"))
        .map_err(|diagnostics| format!("{diagnostics:?}"))
        .unwrap()
        .plan
}

/// 2030-01-01 20:00:05 UTC = 21:00:05 in Berlin, plus `seconds`.
fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_893_528_005 + seconds).unwrap()
}

fn alert() -> Alert {
    Alert {
        id: 1,
        key: "check:errors".into(),
        title: "Checkout error rate".into(),
        severity: Severity::Critical,
        policy: Some("page".into()),
        opened_at: at(0),
        reason: "value 0.2017 > 0.05".into(),
        level: 1,
        escalation_base: at(0),
        last_notified_at: Some(at(0)),
        acknowledged: None,
        resolved_at: None,
        notified: BTreeSet::new(),
        max_level: 1,
        labels: Default::default(),
    }
}

const PROCEDURE: &str = "1. Switch traffic back to 1.9 (deploy/rollback.sh).\n2. Restore the orders database from the pre-launch backup first, then\n   replay the payment queue.";

fn context<'a>(
    plan: &'a Plan,
    alert: &'a Alert,
    kind: MessageKind,
    now: Timestamp,
) -> MessageContext<'a> {
    let open = !matches!(
        kind,
        MessageKind::Resolved | MessageKind::Acknowledged { .. }
    );
    let level = match kind {
        MessageKind::Escalated => 2,
        MessageKind::Repeat => 3,
        _ => 1,
    };
    MessageContext {
        plan,
        alert,
        level,
        phase: Phase::Verifying,
        now,
        recipients: vec!["Jonas Weber".into()],
        others: Vec::new(),
        ack_url: open.then(|| "https://golive.shop.example/ack/TOKEN".to_string()),
        rollback: open.then_some(PROCEDURE),
        value: ValueFacts {
            now: Some(if kind == MessageKind::Resolved {
                0.004
            } else {
                0.1817
            }),
            at_opening: (kind != MessageKind::Opened).then_some(0.20168067226890757),
            worst: (kind != MessageKind::Opened).then_some(0.3125),
        },
        public_url: "https://golive.shop.example",
        next_level: matches!(kind, MessageKind::Opened)
            .then(|| "level 2 (Maria Keller) at 21:05:05 (in 5 min)".to_string()),
        steps_running: vec!["`deploy-app` Deploy 2.0, started 20:58:00 by Jonas Weber".to_string()],
        kind,
    }
}

/// Compares `actual` with `tests/snapshots/alerts/{name}`, or rewrites it.
fn snapshot(name: &str, actual: &str) {
    crate::report::snapshots::assert_snapshot("alerts", name, actual);
}

/// The messages of one alert's life, in order.
fn sequence(plan: &Plan) -> Vec<(&'static str, Rendered)> {
    let open = alert();
    let mut taken = alert();
    taken.acknowledged = Some(Acknowledgement {
        by: "Jonas Weber".into(),
        at: at(130),
        expires_at: None,
    });
    let mut resolved = taken.clone();
    resolved.resolved_at = Some(at(1_300));
    vec![
        (
            "page",
            render(&context(plan, &open, MessageKind::Opened, at(1))),
        ),
        (
            "escalation",
            render(&context(plan, &open, MessageKind::Escalated, at(300))),
        ),
        (
            "ack",
            render(&context(
                plan,
                &taken,
                MessageKind::Acknowledged {
                    by: "Jonas Weber".into(),
                    note: Some("Switching the payment flag to the backup provider, 5 min.".into()),
                },
                at(130),
            )),
        ),
        (
            "lapse",
            render(&context(
                plan,
                &open,
                MessageKind::Reopened {
                    lapsed_by: "Jonas Weber".into(),
                },
                at(1_000),
            )),
        ),
        (
            "reminder",
            render(&context(plan, &open, MessageKind::Repeat, at(1_200))),
        ),
        (
            "resolution",
            render(&context(plan, &resolved, MessageKind::Resolved, at(1_300))),
        ),
    ]
}

fn storm(kind: &MessageKind) -> alert_group::RenderedGroup {
    let lines: Vec<GroupLine> = (1..=3)
        .map(|id| {
            let mut one = alert();
            one.id = id;
            one.title = format!("Shop page {id:02}");
            one.reason = "status 503 (expected 2xx)".into();
            if *kind == MessageKind::Resolved {
                one.resolved_at = Some(at(130));
            }
            alert_group::line(
                &one,
                kind,
                1,
                at(130),
                &the_plan().launch.timezone,
                "https://golive.shop.example",
            )
        })
        .collect();
    let ack_all = (*kind == MessageKind::Opened).then(|| alert_group::AckAll {
        url: "https://golive.shop.example/ack/GROUP-TOKEN".into(),
        count: 3,
    });
    alert_group::render(
        "Web shop 2.0",
        &lines,
        ack_all.as_ref(),
        &["@jonas".to_string()],
    )
}

#[test]
fn every_subject_of_an_alert_leads_with_its_state_and_keeps_one_core_for_threading() {
    let plan = the_plan();
    let subjects: Vec<String> = sequence(&plan)
        .into_iter()
        .map(|(_, rendered)| rendered.subject)
        .collect();
    assert_eq!(
        subjects,
        [
            "[CRITICAL] Checkout error rate — Web shop 2.0",
            "[ESCALATED L2] Checkout error rate — Web shop 2.0",
            "[ACKNOWLEDGED] Checkout error rate — Web shop 2.0",
            "[REOPENED] Checkout error rate — Web shop 2.0",
            "[REMINDER L3] Checkout error rate — Web shop 2.0",
            "[RESOLVED] Checkout error rate — Web shop 2.0",
        ]
    );
    let leads = [
        "CRITICAL",
        "ESCALATED L2",
        "ACKNOWLEDGED",
        "REOPENED",
        "REMINDER L3",
        "RESOLVED",
    ];
    for (subject, state) in subjects.iter().zip(leads) {
        assert!(subject.starts_with(&format!("[{state}] ")), "{subject}");
        // After the tag every subject is the same, which is what Gmail groups by.
        let core = subject.split_once("] ").map(|(_, core)| core);
        assert_eq!(
            core,
            Some("Checkout error rate — Web shop 2.0"),
            "{subject}"
        );
    }
    // A grouped storm, opened and resolved, says its state first too.
    assert_eq!(
        storm(&MessageKind::Opened).subject,
        "[CRITICAL] 3 alerts failing — Web shop 2.0"
    );
    assert_eq!(
        storm(&MessageKind::Resolved).subject,
        "[RESOLVED] 3 alerts — Web shop 2.0"
    );
    assert!(
        subjects[1..]
            .iter()
            .all(|subject| !subject.contains("CRITICAL")),
        "only the new page says its severity: {subjects:?}"
    );
}

#[test]
fn chat_text_turns_mentions_and_disguised_links_of_untrusted_text_into_plain_text() {
    let plan = the_plan();
    let mut hostile = alert();
    hostile.key = "alertmanager:f00".into();
    hostile.title = "<!channel> DiskFull & <@U123>".into();
    hostile.reason = "see <https://evil.example|your bank> <!here>".into();
    let rendered = render(&context(
        &plan,
        &hostile,
        MessageKind::Acknowledged {
            by: "<@U999>".into(),
            note: Some("<!everyone> <mailto:x@y|ok> & done".into()),
        },
        at(60),
    ));
    for hostile in [
        "<!channel>",
        "<@U123>",
        "<https://evil",
        "<!here>",
        "<@U999>",
        "<!everyone>",
        "<mailto:",
    ] {
        assert!(
            !rendered.chat.contains(hostile),
            "{hostile} passed into {}",
            rendered.chat
        );
    }
    assert!(
        rendered
            .chat
            .contains("&lt;!channel&gt; DiskFull &amp; &lt;@U123&gt;")
    );
    assert!(
        rendered
            .chat
            .contains("Note: &lt;!everyone&gt; &lt;mailto:x@y|ok&gt; &amp; done")
    );
    // golive's own link stays a link.
    assert!(
        rendered
            .chat
            .contains("<https://golive.shop.example/#alert-1|Alert #1 on the status page>")
    );
    // The group's chat post escapes the same way; the plan's own handles stay mentions.
    let mut line = alert_group::line(
        &hostile,
        &MessageKind::Opened,
        1,
        at(1),
        &plan.launch.timezone,
        "http://g",
    );
    line.title = "<!channel>".into();
    let group = alert_group::render("Shop <x>", &[line.clone(), line], None, &["<@U42>".into()]);
    assert!(!group.chat.contains("<!channel>") && !group.chat.contains("Shop <x>"));
    assert!(group.chat.ends_with("cc <@U42>"), "{}", group.chat);
    assert_eq!(
        chat_escape("a < b && c > d"),
        "a &lt; b &amp;&amp; c &gt; d"
    );
    assert_eq!(
        chat_link("http://g/#a|b>", "x|y"),
        "<http://g/#a%7Cb%3E|x/y>"
    );
}

#[test]
fn the_chat_message_carries_the_rollback_procedure_complete() {
    let plan = the_plan();
    let chat = render(&context(&plan, &alert(), MessageKind::Opened, at(1))).chat;
    assert!(
        chat.contains("from the pre-launch backup first, then\n   replay the payment queue."),
        "{chat}"
    );
    let contingency = chat.find("Contingency (Payment provider outage)").unwrap();
    let rollback = chat.find("Rollback recommended").unwrap();
    assert!(contingency < rollback, "contingency first: {chat}");
}

#[test]
fn values_read_as_people_write_them_ratios_in_percent_and_latencies_with_units() {
    assert_eq!(number(0.20168067226890757), "0.202");
    assert_eq!(number(20.168067226890757), "20.2");
    assert_eq!(number(1234.6), "1235");
    assert_eq!(number(5.0), "5");
    assert_eq!(number(0.0), "0");
    assert_eq!(with_unit(0.20168067226890757, ValueUnit::Ratio), "20.2 %");
    assert_eq!(with_unit(0.05, ValueUnit::Ratio), "5 %");
    assert_eq!(with_unit(0.8514, ValueUnit::Seconds), "851 ms");
    assert_eq!(with_unit(2.345, ValueUnit::Seconds), "2.35 s");
    let plan = the_plan();
    let unit = |id: &str| value_unit(plan.checks.iter().find(|c| c.id == id).unwrap());
    assert_eq!(unit("errors"), ValueUnit::Ratio);
    assert_eq!(unit("latency"), ValueUnit::Seconds);
    let page = render(&context(&plan, &alert(), MessageKind::Opened, at(1)));
    assert!(
        page.text
            .contains("What failed: 18.2 % (fails above 5 %)\n"),
        "{}",
        page.text
    );
    let escalation = render(&context(&plan, &alert(), MessageKind::Escalated, at(300)));
    assert!(
        escalation.text.contains(
            "What failed: 20.2 % at opening (fails above 5 %); worst 31.2 %; now 18.2 %\n"
        ),
        "{}",
        escalation.text
    );
    for rendered in [&page, &escalation] {
        assert!(
            !rendered.text.contains("0.2016806"),
            "one value, for people"
        );
        assert_eq!(rendered.text.matches("What failed").count(), 1);
    }
}

#[test]
fn a_page_names_the_launch_the_step_in_progress_the_status_page_what_is_probed_and_the_next_level()
{
    let plan = the_plan();
    let page = render(&context(&plan, &alert(), MessageKind::Opened, at(1)));
    assert!(
        page.text
            .contains("Launch: Web shop 2.0, phase verifying\n")
    );
    assert!(
        page.text
            .contains("Runbook: `deploy-app` Deploy 2.0, started 20:58:00 by Jonas Weber\n"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("Status page: https://golive.shop.example/#alert-1\n")
    );
    assert!(
        page.text
            .contains("Next: level 2 (Maria Keller) at 21:05:05 (in 5 min), unless acknowledged\n")
    );
    assert!(
        page.text
            .contains("Since: 2030-01-01 21:00:05 CET (1 s before this message)\n"),
        "{}",
        page.text
    );
    assert!(page.text.contains("query `sum(rate(http_requests_total"));
    let mut front = alert();
    front.key = "check:front".into();
    let front_page = render(&context(&plan, &front, MessageKind::Opened, at(1)));
    assert!(
        front_page
            .text
            .contains("GET https://shop.example/health\n"),
        "{}",
        front_page.text
    );
    for secret in ["hunter2", "token=", "abc123", "ops:"] {
        assert!(!front_page.text.contains(secret) && !front_page.html.contains(secret));
    }
}

#[test]
fn an_acknowledgement_carries_the_acknowledgers_note_in_every_form() {
    let plan = the_plan();
    let (_, ack) = sequence(&plan).swap_remove(2);
    let note = "Switching the payment flag to the backup provider, 5 min.";
    assert!(ack.text.contains(&format!("Their note: {note}\n")));
    assert!(ack.html.contains(note));
    assert!(ack.chat.contains(&format!("Note: {note}")));
    assert_eq!(ack.json.to_value().unwrap()["note"], note);
}

#[test]
fn the_html_part_has_a_severity_colour_a_real_preheader_and_an_absolute_since() {
    let plan = the_plan();
    let page = render(&context(&plan, &alert(), MessageKind::Opened, at(1)));
    assert!(page.html.contains("background:#b00020"));
    assert!(page.html.contains(">18.2 % (fails above 5 %) — since 2030-01-01 21:00:05 CET. Acknowledge to stop the escalation.</div>"));
    assert!(!page.html.contains("ago)"));
    let resolved = sequence(&plan).pop().unwrap().1;
    assert!(resolved.html.contains("background:#1a7f37"));
}

#[test]
fn the_rollback_recommendation_puts_the_contingency_first_and_carries_an_ack_link() {
    let plan = the_plan();
    let (subject, text) = rollback_recommendation(
        &plan,
        &alert(),
        Phase::Verifying,
        PROCEDURE,
        ValueFacts {
            now: Some(0.2017),
            at_opening: None,
            worst: None,
        },
        "https://golive.shop.example",
        Some("https://golive.shop.example/ack/TOKEN"),
    );
    assert_eq!(
        subject,
        "[ROLLBACK RECOMMENDED] Checkout error rate — Web shop 2.0"
    );
    let contingency = text.find("Switch the payment feature flag").unwrap();
    let procedure = text.find("1. Switch traffic back").unwrap();
    assert!(contingency < procedure, "{text}");
    assert!(
        text.contains("replay the payment queue."),
        "complete: {text}"
    );
    assert!(text.contains("- open https://golive.shop.example/ack/TOKEN and press the button"));
    assert!(!text.contains("Alert: golive alerts"));
    snapshot("rollback.txt", &format!("Subject: {subject}\n\n{text}"));
}

#[test]
fn every_message_kind_matches_its_reviewed_snapshot_as_text_html_and_chat() {
    let plan = the_plan();
    for (name, rendered) in sequence(&plan) {
        snapshot(
            &format!("{name}.txt"),
            &format!("Subject: {}\n\n{}", rendered.subject, rendered.text),
        );
        snapshot(&format!("{name}.html"), &rendered.html);
        snapshot(&format!("{name}.chat.txt"), &rendered.chat);
    }
    for (name, kind) in [
        ("storm-opened", MessageKind::Opened),
        ("storm-resolved", MessageKind::Resolved),
    ] {
        let group = storm(&kind);
        snapshot(
            &format!("{name}.txt"),
            &format!("Subject: {}\n\n{}", group.subject, group.text),
        );
        snapshot(&format!("{name}.html"), &group.html);
        snapshot(&format!("{name}.chat.txt"), &group.chat);
    }
}

#[test]
fn an_alertmanager_alert_whose_labels_match_a_risk_carries_its_contingency_in_every_form() {
    let plan = plan::parse(
        &format!(
            "{PLAN}
[[risks]]
id = \"payment-api\"
title = \"Payment API errors\"
likelihood = \"low\"
impact = \"high\"
contingency = \"Turn on the payment retry queue (flag payments.queue).\"
owner = \"jonas\"
alertmanager = [{{ alertname = \"PaymentErrors\", service = \"payments\" }}, {{ alertname = \"PaymentDown\" }}]
"
        ),
        &std::env::temp_dir().join("plan.toml"),
    )
    .map_err(|diagnostics| format!("{diagnostics:?}"))
    .unwrap()
    .plan;
    let from_alertmanager = |labels: &[(&str, &str)]| Alert {
        key: "alertmanager:4f2a".into(),
        title: "PaymentErrors".into(),
        reason: "Alertmanager: payment errors above 2% [instance=pay-1:8080, service=payments]"
            .into(),
        labels: labels
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        ..alert()
    };
    let matching = from_alertmanager(&[
        ("alertname", "PaymentErrors"),
        ("instance", "pay-1:8080"),
        ("service", "payments"),
        ("severity", "critical"),
    ]);
    let linked: Vec<&str> = linked_risks(&plan, &matching)
        .iter()
        .map(|risk| risk.id.as_str())
        .collect();
    assert_eq!(linked, ["payment-api"]);
    let page = render(&context(&plan, &matching, MessageKind::Opened, at(60)));
    let contingency = "Turn on the payment retry queue (flag payments.queue).";
    assert!(page.text.contains(contingency), "{}", page.text);
    assert!(
        page.text.contains("Contingency (risk `payment-api`"),
        "{}",
        page.text
    );
    assert!(page.html.contains(contingency), "{}", page.html);
    assert!(page.chat.contains(contingency), "{}", page.chat);
    assert_eq!(
        page.json.to_value().unwrap()["risks"][0]["id"],
        "payment-api"
    );
    // The contingency comes before the rollback advice, as for a check's alert.
    let first = page.text.find(contingency).unwrap();
    let rollback = page.text.find("ROLLBACK RECOMMENDED").unwrap();
    assert!(first < rollback, "{}", page.text);

    // Another service with the same alert name, or a label missing: no risk, no contingency.
    for labels in [
        &[("alertname", "PaymentErrors"), ("service", "search")][..],
        &[("alertname", "PaymentErrors")][..],
    ] {
        let other = from_alertmanager(labels);
        assert!(linked_risks(&plan, &other).is_empty(), "{labels:?}");
        let page = render(&context(&plan, &other, MessageKind::Opened, at(60)));
        assert!(!page.text.contains("Contingency"), "{}", page.text);
        assert!(!page.chat.contains(contingency), "{}", page.chat);
    }
    // A check's alert still carries only its check's risks.
    let linked: Vec<&str> = linked_risks(&plan, &alert())
        .iter()
        .map(|risk| risk.id.as_str())
        .collect();
    assert_eq!(linked, ["payment"]);
}
