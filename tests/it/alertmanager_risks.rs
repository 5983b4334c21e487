//! Alerts from Alertmanager linked to a risk by the plan (`[[risks]] alertmanager`): through the
//! real daemon, a real SMTP server (aiosmtpd) and a real webhook receiver, an Alertmanager webhook
//! whose labels match the risk's matcher pages with the risk's contingency, by email and in chat;
//! one whose labels do not match (another service, same alert name) pages without it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::alerting::Receiver;
use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::plans::{channels, page_policy};
use crate::smtp::{SmtpOptions, SmtpServer};

const CONTINGENCY: &str = "Switch to the fallback provider";

/// The base plan's `payments` risk, linked to `PaymentErrors` alerts of the `payments` service;
/// critical alerts page bob by email and chat, each message on its own (no grouping window).
fn plan(smtp_port: u16, hook: &str) -> String {
    let plan = format!(
        "{BASE_PLAN}{}{}",
        channels(smtp_port, hook, "2s"),
        page_policy()
            .level("0s", &["bob"], &["email", "chat"])
            .alerting(r#"group_window = "0s""#),
    );
    let linked = plan.replace(
        &format!("contingency = \"{CONTINGENCY}\"\n"),
        &format!(
            "contingency = \"{CONTINGENCY}\"\nalertmanager = {{ alertname = \"PaymentErrors\", service = \"payments\" }}\n"
        ),
    );
    assert_ne!(linked, plan, "the risk got its matcher");
    linked
}

/// Alertmanager's webhook payload with one firing alert.
fn firing(fingerprint: &str, labels: Value) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"PaymentErrors\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "golive",
        "groupLabels": {"alertname": "PaymentErrors"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test:9093",
        "alerts": [{
            "status": "firing",
            "labels": labels,
            "annotations": {"summary": "payment errors above 2% for 5m"},
            "startsAt": "2026-11-27T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.test/graph?g0.expr=payment_errors",
            "fingerprint": fingerprint
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_alert_whose_labels_match_a_risk_pages_with_its_contingency_and_another_does_not()
 {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let daemon = Daemon::start(&plan(smtp.port, &hook.url)).await;

    // Matching: every label of the matcher, with more besides.
    let (status, body) = daemon
        .post(
            "/api/v1/alertmanager",
            firing(
                "f00d01",
                json!({"alertname": "PaymentErrors", "service": "payments", "instance": "pay-1:8080", "severity": "critical"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let messages = smtp.wait_for(1, Duration::from_secs(10)).await;
    let page = messages[0].email.text.clone().unwrap_or_default();
    assert!(
        messages[0]
            .email
            .subject
            .starts_with("[CRITICAL] PaymentErrors — Test shop"),
        "{}",
        messages[0].email.subject
    );
    let lines: Vec<&str> = page.lines().collect();
    let heading = lines
        .iter()
        .position(|line| line.starts_with("Contingency (risk `payments`"));
    assert_eq!(
        heading.and_then(|at| lines.get(at + 1)),
        Some(&CONTINGENCY),
        "the risk's contingency: {page}"
    );
    assert!(
        page.contains("instance=pay-1:8080") && page.contains("service=payments"),
        "the labels still show: {page}"
    );
    assert!(
        messages[0]
            .email
            .html
            .as_deref()
            .unwrap_or("")
            .contains(CONTINGENCY),
        "the HTML part carries it too"
    );
    let chat = eventually(10, async || hook.texts().first().cloned()).await;
    assert!(
        chat.contains(CONTINGENCY),
        "the chat post carries it: {chat}"
    );

    // Not matching: the same alert name from another service.
    let (status, body) = daemon
        .post(
            "/api/v1/alertmanager",
            firing(
                "f00d02",
                json!({"alertname": "PaymentErrors", "service": "search", "instance": "search-1:8080", "severity": "critical"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let messages = smtp.wait_for(2, Duration::from_secs(10)).await;
    let other = messages
        .iter()
        .map(|message| message.email.text.clone().unwrap_or_default())
        .find(|text| text.contains("service=search"))
        .expect("the search service's page");
    assert!(!other.contains("Contingency"), "{other}");
    assert!(!other.contains(CONTINGENCY), "{other}");
    let chats = eventually(10, async || {
        let texts = hook.texts();
        (texts.len() >= 2).then_some(texts)
    })
    .await;
    let other_chat = chats
        .iter()
        .find(|text| text.contains("service=search"))
        .expect("the search service's chat post");
    assert!(!other_chat.contains(CONTINGENCY), "{other_chat}");

    // The alerts' records carry their labels.
    let (_, body) = daemon.get("/api/v1/alerts").await;
    let services: Vec<&str> = body["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|alert| alert["labels"]["service"].as_str())
        .collect();
    assert_eq!(services.len(), 2, "{body}");
    assert!(services.contains(&"payments") && services.contains(&"search"));
    drop(daemon);
}
