//! Alerting end to end against a real SMTP server (aiosmtpd) and a real webhook receiver: levels
//! on time, acknowledgement (API and one-click link), resolution to everyone told, silences,
//! grouping, SMTP outages, and escalation across SIGKILL.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::harness::spawn_with_clock;
use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::monitoring::Switchable;
use crate::plans::{channels, http_check, page_policy, unreachable_prometheus_check};
use crate::smtp::{ReceivedMessage, SmtpOptions, SmtpServer};

/// A webhook receiver that records every JSON body it gets.
pub struct Receiver {
    pub url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let store = bodies.clone();
        let app = Router::new().route(
            "/hook",
            post(move |axum::Json(body): axum::Json<Value>| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push(body);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, bodies }
    }

    pub fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter_map(|body| body["text"].as_str().map(str::to_string))
            .collect()
    }
}

/// The test plan: `web` checks `target`; critical alerts page bob at once (email + chat), alice
/// after `level_two` seconds and carol after three times that.
fn alerting_plan(target: &str, smtp_port: u16, hook: &str, level_two: u64, extra: &str) -> String {
    let level_three = level_two * 3;
    format!(
        "{BASE_PLAN}{}{}{}{extra}",
        http_check("web", target)
            .named("Shop front page")
            .with(r#"risks = ["payments"]"#),
        channels(smtp_port, hook, "2s"),
        page_policy()
            .level("0s", &["bob"], &["email", "chat"])
            .level(&format!("{level_two}s"), &["alice"], &["email"])
            .level(&format!("{level_three}s"), &["carol"], &["email"])
            .repeat("10m")
            .alerting(r#"group_window = "1s""#),
    )
}

fn to(message: &ReceivedMessage) -> Vec<String> {
    message.recipients.clone()
}

pub(crate) fn for_recipient<'a>(
    messages: &'a [ReceivedMessage],
    address: &str,
) -> Vec<&'a ReceivedMessage> {
    messages
        .iter()
        .filter(|message| message.recipients.iter().any(|r| r == address))
        .collect()
}

pub(crate) async fn open_alert(daemon: &Daemon) -> Value {
    eventually(10, async || {
        let (_, body) = daemon.get("/api/v1/alerts").await;
        body["alerts"]
            .as_array()
            .and_then(|alerts| alerts.first().cloned())
    })
    .await
}

/// The outbox rows of alert `id` (its notifications: channel, kind, status, `to`), oldest first.
pub(crate) async fn alert_rows(daemon: &Daemon, id: i64) -> Vec<Value> {
    let (status, detail) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    detail["notifications"]
        .as_array()
        .cloned()
        .expect("an alert's notifications")
}

/// Who alert `id`'s email rows were addressed to, in order.
pub(crate) async fn emailed(daemon: &Daemon, id: i64) -> Vec<String> {
    alert_rows(daemon, id)
        .await
        .iter()
        .filter(|row| row["channel"] == "email")
        .flat_map(|row| {
            row["to"]
                .as_array()
                .cloned()
                .expect("an email's recipients")
        })
        // Each recipient is [display name, address].
        .map(|to| to[1].as_str().expect("an address").to_string())
        .collect()
}

/// Waits until every outbox row of every alert (open or not) has been delivered, and returns
/// them: after that, what the SMTP server and the webhook received is all these rows send.
async fn every_alert_row_delivered(daemon: &Daemon) -> Vec<Value> {
    eventually(20, async || {
        let (_, list) = daemon.get("/api/v1/alerts?state=all").await;
        let mut rows = Vec::new();
        for alert in list["alerts"].as_array().expect("alerts") {
            rows.extend(alert_rows(daemon, alert["id"].as_i64().expect("id")).await);
        }
        rows.iter()
            .all(|row| row["status"] == "delivered")
            .then_some(rows)
    })
    .await
}

/// Waits until the check `id` has been probed healthy (so a failure after it is a change).
pub(crate) async fn healthy(daemon: &Daemon, id: &str) {
    eventually(10, async || {
        (crate::monitoring::check_view(daemon, id).await["health"] == "healthy").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_alert_escalates_on_time_and_resolution_tells_everyone_told() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let golive = spawn_with_clock(&alerting_plan(&target.url(), smtp.port, &hook.url, 2, "")).await;
    let daemon = &golive.api;
    healthy(daemon, "web").await;
    target.set(503);

    // Level 1: bob by email and the chat channel, at once.
    let messages = smtp.wait_for(1, Duration::from_secs(10)).await;
    let first = &messages[0];
    assert_eq!(to(first), ["bob@example.com"]);
    let email = &first.email;
    assert!(
        email
            .subject
            .starts_with("[CRITICAL] Shop front page — Test shop"),
        "{}",
        email.subject
    );
    let text = email.text.clone().unwrap_or_default();
    assert!(text.contains("status 503 (expected 2xx)"), "{text}");
    assert!(text.contains("Launch: Test shop, phase planned"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"Level: 1"), "{text}");
    let contingency = lines
        .iter()
        .position(|line| line.starts_with("Contingency (risk `payments`"));
    assert_eq!(
        contingency.and_then(|at| lines.get(at + 1)),
        Some(&"Switch to the fallback provider"),
        "the contingency: {text}"
    );
    assert!(text.contains("/#alert-"), "the status page link: {text}");
    assert!(
        text.contains("Next: level 2 (Alice"),
        "who the next level pages: {text}"
    );
    assert!(text.contains("golive ack "), "{text}");
    assert!(
        email
            .html
            .as_deref()
            .unwrap_or("")
            .contains("Shop front page")
    );
    // Every email about the alert names the alert's root first in References; each person's
    // later emails answer the first one they got.
    let root = email.references.first().cloned().expect("the alert's root");
    let bob_first = email.message_id.clone().expect("Message-ID");
    assert!(
        email.in_reply_to.is_empty(),
        "the first page starts bob's thread"
    );
    eventually(5, async || (!hook.texts().is_empty()).then_some(())).await;
    assert!(
        hook.texts()[0].starts_with("*[CRITICAL] Shop front page — Test shop*"),
        "{:?}",
        hook.texts()
    );

    // Level 2 after 2 s, not a moment before: alice, in the same thread, told that bob knows.
    let id = open_alert(daemon).await["id"]
        .as_i64()
        .expect("an alert id");
    golive.advance(SignedDuration::from_millis(1999)).await;
    assert_eq!(
        emailed(daemon, id).await,
        ["bob@example.com"],
        "level 2 early"
    );
    golive.advance(SignedDuration::from_millis(1)).await;
    let messages = smtp.wait_for(2, Duration::from_secs(10)).await;
    let second = for_recipient(&messages, "alice@example.com");
    assert_eq!(second.len(), 1, "one level-2 email to alice");
    let email = &second[0].email;
    assert!(
        email
            .subject
            .starts_with("[ESCALATED L2] Shop front page — Test shop"),
        "{}",
        email.subject
    );
    assert_eq!(email.references.first(), Some(&root), "the alert's thread");
    assert_ne!(email.message_id.as_ref(), Some(&bob_first));
    assert!(
        email
            .text
            .as_deref()
            .unwrap_or("")
            .contains("Also told: Bob Berg")
    );
    let alert = open_alert(daemon).await;
    assert_eq!(alert["level"], 2);

    // Level 3 after 6 s: carol.
    golive.advance(SignedDuration::from_millis(3999)).await;
    assert_eq!(open_alert(daemon).await["level"], 2, "level 3 early");
    golive.advance(SignedDuration::from_millis(1)).await;
    let messages = smtp.wait_for(3, Duration::from_secs(10)).await;
    let third = for_recipient(&messages, "carol@example.com");
    assert_eq!(third.len(), 1, "one level-3 email to carol");
    assert!(
        third[0]
            .email
            .subject
            .starts_with("[ESCALATED L3] Shop front page — Test shop"),
        "{}",
        third[0].email.subject
    );
    assert_eq!(open_alert(daemon).await["level"], 3);

    // Resolution: everyone told hears it, with the duration.
    target.set(200);
    let messages = smtp.wait_for(6, Duration::from_secs(10)).await;
    for address in ["bob@example.com", "alice@example.com", "carol@example.com"] {
        let resolved: Vec<_> = for_recipient(&messages, address)
            .into_iter()
            .filter(|message| message.email.subject.starts_with("[RESOLVED] "))
            .collect();
        assert_eq!(resolved.len(), 1, "{address} gets one resolution");
        assert_eq!(resolved[0].email.references.first(), Some(&root));
        if address == "bob@example.com" {
            assert_eq!(
                resolved[0].email.in_reply_to,
                std::slice::from_ref(&bob_first)
            );
        }
        assert!(
            resolved[0]
                .email
                .text
                .as_deref()
                .unwrap_or("")
                .contains("Acknowledged: never")
        );
    }
    let (_, open) = daemon.get("/api/v1/alerts").await;
    assert_eq!(open["alerts"].as_array().unwrap().len(), 0);
    let (_, log) = daemon.get("/api/v1/log?kind=alert&order=asc").await;
    let events: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["event"].as_str().unwrap_or(""))
        .collect();
    // Opened, level 1 notified, escalated to levels 2 and 3, resolved: every alert event is logged.
    assert_eq!(
        events,
        ["opened", "opened", "escalated", "escalated", "resolved"]
    );
    golive.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_stops_escalation_and_tells_everyone_already_notified() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let golive = spawn_with_clock(&alerting_plan(&target.url(), smtp.port, &hook.url, 3, "")).await;
    let daemon = &golive.api;
    smtp.wait_for(1, Duration::from_secs(10)).await;
    let alert = open_alert(daemon).await;
    let id = alert["id"].as_i64().unwrap();
    let (status, body) = daemon
        .post(
            &format!("/api/v1/alerts/{id}/ack"),
            json!({"author": "Bob Berg", "note": "looking"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["acknowledged"]["by"], "Bob Berg");
    let messages = smtp.wait_for(2, Duration::from_secs(10)).await;
    let ack = &messages[1];
    assert_eq!(to(ack), ["bob@example.com"]);
    assert!(
        ack.email
            .subject
            .starts_with("[ACKNOWLEDGED] Shop front page — Test shop"),
        "{}",
        ack.email.subject
    );
    let ack_text = ack.email.text.clone().unwrap_or_default();
    assert!(ack_text.contains("Taken by: Bob Berg, "), "{ack_text}");
    assert!(
        ack_text.contains("Their note: looking"),
        "the acknowledger's note reaches the people told: {ack_text}"
    );
    // Past level 2's and level 3's time: nobody else is paged, only bob hears of the ack.
    golive.advance(SignedDuration::from_secs(10)).await;
    assert_eq!(
        emailed(daemon, id).await,
        ["bob@example.com", "bob@example.com"],
        "the page and the acknowledgement, to bob only"
    );
    let alert = open_alert(daemon).await;
    assert_eq!(alert["level"], 1);
    assert_eq!(alert["notified"], json!(["bob"]));
    every_alert_row_delivered(daemon).await;
    assert_eq!(smtp.messages().len(), 2);
    let (_, text) = daemon.get_text("/metrics").await;
    assert!(
        text.contains("golive_alerts{severity=\"critical\",state=\"acknowledged\"} 1"),
        "{text}"
    );
    assert!(text.contains("golive_alert_time_to_ack_seconds_count 1"));
    assert!(
        text.contains("golive_notifications_total{channel=\"email\",result=\"delivered\"} 2"),
        "{text}"
    );
    golive.stop().await;
}

fn ack_token(message: &ReceivedMessage) -> String {
    let text = message.email.text.clone().unwrap_or_default();
    let start = text.find("/ack/").expect("an acknowledgement link") + "/ack/".len();
    text[start..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ack_link_page_does_not_acknowledge_its_button_does_and_a_reused_or_tampered_link_is_refused()
 {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 30, "")).await;
    let messages = smtp.wait_for(1, Duration::from_secs(10)).await;
    let text = messages[0].email.text.clone().unwrap_or_default();
    assert!(
        text.contains(&format!("{}/ack/", daemon.url)),
        "the link points at the daemon: {text}"
    );
    let token = ack_token(&messages[0]);

    // A mail scanner prefetching the link acknowledges nothing.
    let response = daemon
        .http
        .get(daemon.at(&format!("/ack/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The page cannot be framed (no click-jacked acknowledgement), and its token does not leak.
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{:?}",
        response.headers()
    );
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "no-referrer");
    let page = response.text().await.unwrap();
    assert!(
        page.contains("<form method=\"post\">") && page.contains("Shop front page"),
        "{page}"
    );
    assert!(open_alert(&daemon).await["acknowledged"].is_null());

    let tampered = token.replacen('.', "9.", 1);
    let response = daemon
        .http
        .post(daemon.at(&format!("/ack/{tampered}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(open_alert(&daemon).await["acknowledged"].is_null());

    let response = daemon
        .http
        .post(daemon.at(&format!("/ack/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("acknowledged by Bob Berg")
    );
    let alert = open_alert(&daemon).await;
    assert_eq!(alert["acknowledged"]["by"], "Bob Berg");

    let response = daemon
        .http
        .post(daemon.at(&format!("/ack/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("used already"));
    let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["text"].as_str().unwrap().contains("(email link)"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ack_link_page_names_the_launch_links_the_status_page_and_shows_no_button_once_someone_acknowledged()
 {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 30, "")).await;
    let messages = smtp.wait_for(1, Duration::from_secs(10)).await;
    let token = ack_token(&messages[0]);
    let id = open_alert(&daemon).await["id"]
        .as_i64()
        .expect("an alert id");

    let (status, page) = daemon.get_text(&format!("/ack/{token}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Test shop · golive"),
        "the launch is named: {page}"
    );
    assert!(
        page.contains(&format!("href=\"/#alert-{id}\"")),
        "the status page is linked at the alert: {page}"
    );
    assert!(page.contains("<form method=\"post\">"), "{page}");

    // Someone else was faster: the page says so, and offers nothing more to press.
    let (status, body) = daemon
        .post(
            &format!("/api/v1/alerts/{id}/ack"),
            json!({"author": "jonas"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, page) = daemon.get_text(&format!("/ack/{token}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Already acknowledged by jonas"), "{page}");
    assert!(
        !page.contains("<form"),
        "a button that does nothing: {page}"
    );
    assert!(!page.contains("<button"), "{page}");
    assert!(page.contains("Test shop · golive"), "{page}");
    assert!(page.contains(&format!("href=\"/#alert-{id}\"")), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_holds_notifications_back_but_the_alert_is_recorded() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 30, "")).await;
    let (status, body) = daemon
        .post("/api/v1/silences", json!({"id": "restart", "checks": ["web"], "duration": "1h", "comment": "planned restart"}))
        .await;
    assert_eq!(status, 201, "{body}");
    target.set(503);
    let alert = open_alert(&daemon).await;
    assert_eq!(alert["severity"], "critical");
    // The engine carries out due escalation steps in the turn that opens an alert, and does
    // what is due before each command it answers: after this answer, level 1 was either written
    // to send or held back.
    let (status, body) = daemon
        .post("/api/v1/log", json!({"kind": "note", "text": "silenced?"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = alert["id"].as_i64().expect("an alert id");
    assert_eq!(alert_rows(&daemon, id).await, Vec::<Value>::new());
    assert_eq!(open_alert(&daemon).await["level"], 0);
    assert!(smtp.messages().is_empty(), "a silenced alert was sent");
    assert!(hook.texts().is_empty());
    let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
    assert!(
        log["entries"].as_array().unwrap().iter().any(|e| e["text"]
            .as_str()
            .unwrap()
            .contains("held back by silence `restart`")),
        "{log}"
    );

    // Lifting the silence sends what was held back.
    let response = daemon
        .http
        .delete(daemon.at("/api/v1/silences/restart"))
        .bearer_auth(crate::helpers::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let messages = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(to(&messages[0]), ["bob@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_failures_sends_the_first_alert_at_once_and_the_rest_as_one_message() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let extra_checks: String = ["search", "checkout"]
        .map(|id| {
            http_check(id, &target.url())
                .failing_after(None)
                .in_phases(&["planned"])
                .to_string()
        })
        .concat();
    let plan = alerting_plan(&target.url(), smtp.port, &hook.url, 60, &extra_checks);
    let daemon = Daemon::start(&plan).await;
    for check in ["web", "search", "checkout"] {
        healthy(&daemon, check).await;
    }
    target.set(500);
    let messages = smtp.wait_for(2, Duration::from_secs(10)).await;
    let (_, alerts) = daemon.get("/api/v1/alerts").await;
    assert_eq!(
        alerts["alerts"].as_array().unwrap().len(),
        3,
        "every alert is recorded"
    );
    // Every alert's rows delivered: the SMTP server has every message they make.
    let rows = every_alert_row_delivered(&daemon).await;
    assert_eq!(
        rows.iter().filter(|row| row["channel"] == "email").count(),
        3,
        "one email row per alert"
    );
    let messages_later = smtp.messages();
    assert_eq!(
        messages_later.len(),
        2,
        "the first alone, then one message for the rest: {:?}",
        messages_later
            .iter()
            .map(|m| &m.email.subject)
            .collect::<Vec<_>>()
    );
    let grouped = &messages[1].email;
    assert!(
        grouped
            .subject
            .starts_with("[CRITICAL] 2 alerts failing — ")
            || grouped
                .subject
                .starts_with("[CRITICAL] 3 alerts failing — "),
        "{}",
        grouped.subject
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_survive_an_smtp_outage_and_are_delivered_once_it_is_back() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    smtp.refuse_with("451 4.3.0 Try again later");
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 60, "")).await;
    eventually(10, async || {
        let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["event"] == "delivery_retry")
            .then_some(())
    })
    .await;
    let retries = crate::monitoring::metric(
        &daemon,
        "golive_notifications_total{channel=\"email\",result=\"retry\"}",
    )
    .await;
    assert!(retries.is_some_and(|count| count >= 1.0), "{retries:?}");
    smtp.accept();
    let messages = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(to(&messages[0]), ["bob@example.com"]);
    let rows = every_alert_row_delivered(&daemon).await;
    let email = rows
        .iter()
        .find(|row| row["channel"] == "email")
        .expect("the page's email row");
    assert!(
        email["attempts"].as_i64().expect("attempts") >= 2,
        "refused, then delivered: {email}"
    );
    assert_eq!(smtp.messages().len(), 1, "delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_mid_escalation_no_level_is_sent_again_and_a_due_one_is_sent_at_once() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let mut daemon =
        Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 3, "")).await;
    smtp.wait_for(1, Duration::from_secs(10)).await;
    // Killed between levels: level 1 is delivered and recorded (a kill between the SMTP server
    // accepting a message and golive recording it would send that message again: delivery is at
    // least once, by design).
    let alert = open_alert(&daemon).await;
    let id = alert["id"].as_i64().unwrap();
    eventually(10, async || {
        let (_, detail) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
        let notifications = detail["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        notifications
            .iter()
            .all(|row| row["status"] == "delivered")
            .then_some(())
    })
    .await;
    daemon.kill9();
    // Level 2 (3 s after the opening) falls due while the daemon is down.
    let level_two_due = alert["escalation_base"]
        .as_str()
        .expect("escalation base")
        .parse::<jiff::Timestamp>()
        .expect("a time")
        + SignedDuration::from_secs(3);
    eventually(10, async || {
        (jiff::Timestamp::now() > level_two_due).then_some(())
    })
    .await;
    let dir = daemon.dir.clone();
    let restarted = Daemon::start_in(&dir).await;
    // Levels leave in order, one message of an alert at a time: once alice has level 2, a level 1
    // sent again would have reached the server before it.
    let messages = eventually(10, async || {
        let messages = smtp.messages();
        (!for_recipient(&messages, "alice@example.com").is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(
        messages.len(),
        2,
        "{:?}",
        messages
            .iter()
            .map(|m| (&m.recipients, &m.email.subject))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        emailed(&restarted, id).await,
        ["bob@example.com", "alice@example.com"],
        "one row per level"
    );
    assert_eq!(
        for_recipient(&messages, "bob@example.com").len(),
        1,
        "level 1 is not sent again"
    );
    assert_eq!(
        for_recipient(&messages, "alice@example.com").len(),
        1,
        "level 2 is sent once"
    );
    drop(daemon);
}

fn am_payload(status: &str, fingerprint: &str) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "golive",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "checkout"},
            "annotations": {"summary": "5xx rate above 5% for 2m"},
            "startsAt": "2026-11-27T10:00:00Z",
            "endsAt": if status == "resolved" { "2026-11-27T10:05:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus.test/graph",
            "fingerprint": fingerprint
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_alerts_go_through_the_same_policies_keyed_by_fingerprint() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 60, "")).await;
    let (status, body) = daemon
        .post("/api/v1/alertmanager", am_payload("firing", "a1b2c3"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"]["opened"].as_array().unwrap().len(), 1);
    let messages = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        messages[0]
            .email
            .subject
            .starts_with("[CRITICAL] HighErrorRate — Test shop"),
        "{}",
        messages[0].email.subject
    );
    let page = messages[0].email.text.clone().unwrap_or_default();
    assert!(
        page.contains(
            "What failed: Alertmanager: 5xx rate above 5% for 2m [service=checkout]; source http://prometheus.test/graph"
        ),
        "the labels and where it came from: {page}"
    );
    assert!(
        messages[0]
            .email
            .text
            .as_deref()
            .unwrap_or("")
            .contains("5xx rate above 5% for 2m")
    );
    // Alertmanager repeats itself: deduplicated by fingerprint.
    let (_, body) = daemon
        .post("/api/v1/alertmanager", am_payload("firing", "a1b2c3"))
        .await;
    assert_eq!(body["outcome"]["already_open"], 1);
    let (_, body) = daemon
        .post("/api/v1/alertmanager", am_payload("resolved", "a1b2c3"))
        .await;
    assert_eq!(body["outcome"]["resolved"].as_array().unwrap().len(), 1);
    let messages = smtp.wait_for(2, Duration::from_secs(10)).await;
    assert!(
        messages[1]
            .email
            .subject
            .starts_with("[RESOLVED] HighErrorRate"),
        "{}",
        messages[1].email.subject
    );
    // Without a token the intake is refused.
    let (status, _) = daemon
        .send(
            reqwest::Method::POST,
            "/api/v1/alertmanager",
            am_payload("firing", "zz"),
            None,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_rollback_criteria_hold_the_alert_says_so_and_the_project_manager_gets_the_procedure()
{
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let extra = "\n[rollback.hook]\ncommand = [\"sh\", \"-c\", \"echo \\\"rolled back by $GOLIVE_ROLLBACK_BY: $GOLIVE_ROLLBACK_REASON\\\" > rollback.out; echo done\"]\ntimeout = \"10s\"\n";
    let plan = alerting_plan(&target.url(), smtp.port, &hook.url, 60, "")
        .replace(
            "[rollback]\nprocedure = \"Redeploy release 1.9 and restore the database snapshot\"",
            "[rollback]\nprocedure = \"Redeploy release 1.9 and restore the database snapshot\"\ncriteria = [{ checks = [\"web\"], severity = \"critical\" }]",
        )
        + extra;
    let daemon = Daemon::start(&plan).await;
    for _ in 0..2 {
        daemon
            .post("/api/v1/phase", json!({"force": true, "reason": "test"}))
            .await;
    }
    assert_eq!(daemon.get("/api/v1/status").await.1["phase"], "deploying");
    target.set(503);
    let messages = smtp.wait_for(2, Duration::from_secs(10)).await;
    let page = for_recipient(&messages, "bob@example.com");
    assert!(
        page[0]
            .email
            .text
            .as_deref()
            .unwrap_or("")
            .contains("ROLLBACK RECOMMENDED"),
        "{:?}",
        page[0].email.text
    );
    let procedure = for_recipient(&messages, "alice@example.com");
    assert_eq!(procedure.len(), 1, "the project manager gets the procedure");
    assert!(
        procedure[0]
            .email
            .subject
            .starts_with("[ROLLBACK RECOMMENDED] Shop front page — Test shop"),
        "{}",
        procedure[0].email.subject
    );
    let advice = procedure[0].email.text.as_deref().unwrap_or("");
    let contingency = advice
        .find("Switch to the fallback provider")
        .expect("the contingency");
    let rollback = advice.find("Redeploy release 1.9").expect("the procedure");
    assert!(contingency < rollback, "contingency first: {advice}");
    assert!(
        advice.contains("/ack/"),
        "an acknowledgement link: {advice}"
    );
    assert!(!advice.contains("Alert: golive alerts"), "{advice}");
    // auto = false: nothing rolled back by itself.
    assert_eq!(daemon.get("/api/v1/status").await.1["phase"], "deploying");

    // The decision: rolled back, recorded, the hook runs and its output is logged.
    let (code, out, err) = tokio::task::spawn_blocking({
        let dir = daemon.dir.clone();
        let url = daemon.url.clone();
        move || {
            crate::helpers::cli(
                &dir,
                &[
                    "rollback",
                    "--reason",
                    "checkout failing",
                    "--server",
                    &url,
                    "--author",
                    "alice",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("rolled back") && out.contains("Redeploy release 1.9"),
        "{out}"
    );
    assert_eq!(daemon.get("/api/v1/status").await.1["phase"], "rolled_back");
    let entry = eventually(10, async || {
        let (_, log) = daemon.get("/api/v1/log?kind=decision").await;
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["text"].as_str().unwrap().starts_with("Rollback hook ran"))
            .cloned()
    })
    .await;
    assert!(
        entry["text"]
            .as_str()
            .unwrap()
            .contains("exited with 0: done"),
        "{entry}"
    );
    let written = std::fs::read_to_string(daemon.dir.join("rollback.out")).unwrap();
    assert_eq!(written.trim(), "rolled back by alice: checkout failing");
    // No check runs once rolled back: the alert is closed, not left escalating.
    let (_, alerts) = daemon.get("/api/v1/alerts").await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 0, "{alerts}");
    let (_, log) = daemon.get("/api/v1/log?kind=decision").await;
    let hook_runs = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["text"].as_str().unwrap().starts_with("Rollback hook ran"))
        .count();
    assert_eq!(hook_runs, 1, "the hook runs once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_sends_through_every_channel_and_reports_each_result() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let plan = alerting_plan(&target.url(), smtp.port, &hook.url, 60, "").replace(
        "[[escalation]]",
        &format!("[[channels]]\nid = \"broken\"\nkind = \"webhook\"\nurl = \"http://{closed}/hook\"\ntimeout = \"1s\"\n\n[[escalation]]"),
    ).replace("channels = [\"email\", \"chat\"] }", "channels = [\"email\", \"chat\", \"broken\"] }");
    let daemon = Daemon::start(&plan).await;
    let (code, out, err) = tokio::task::spawn_blocking({
        let dir = daemon.dir.clone();
        let url = daemon.url.clone();
        move || crate::helpers::cli(&dir, &["notify", "test", "--server", &url])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let line = |channel: &str| {
        out.lines()
            .find(|line| line.starts_with(channel))
            .unwrap_or("")
            .to_string()
    };
    assert!(line("email ").contains("DELIVERED"), "{out}");
    assert!(line("chat ").contains("DELIVERED"), "{out}");
    assert!(line("broken ").contains("FAILED"), "{out}");
    let messages = smtp.wait_for(1, Duration::from_secs(5)).await;
    let mut recipients = messages[0].recipients.clone();
    recipients.sort();
    assert_eq!(
        recipients,
        ["alice@example.com", "bob@example.com", "carol@example.com"],
        "everyone an escalation level names"
    );
    assert!(messages[0].email.subject.starts_with("[TEST] Test shop"));
    assert!(
        hook.texts()
            .iter()
            .any(|text| text.contains("notification test"))
    );
    let (_, log) = daemon.get("/api/v1/log?kind=note").await;
    assert!(
        log["entries"][0]["text"]
            .as_str()
            .unwrap()
            .contains("broken failed"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_metrics_source_warns_the_ops_lead_without_paging_anyone() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let prometheus = unreachable_prometheus_check(closed, &["planned"]);
    let plan = alerting_plan(&target.url(), smtp.port, &hook.url, 60, &prometheus);
    let daemon = Daemon::start(&plan).await;
    let messages = smtp.wait_for(1, Duration::from_secs(10)).await;
    let warning = &messages[0];
    assert_eq!(to(warning), ["bob@example.com"], "the ops lead");
    assert!(
        warning
            .email
            .subject
            .starts_with("[WARNING] Test shop: golive cannot tell the state of 1 check"),
        "{}",
        warning.email.subject
    );
    assert!(
        warning
            .email
            .text
            .as_deref()
            .unwrap_or("")
            .contains("error-rate: prometheus unreachable"),
        "{:?}",
        warning.email.text
    );
    eventually(5, async || {
        hook.texts()
            .iter()
            .any(|text| text.contains("cannot tell"))
            .then_some(())
    })
    .await;
    // Unknown is not failing: three probes later still no alert, nobody paged, one warning.
    let unknown = "golive_check_results_total{check=\"error-rate\",result=\"unknown\"}";
    let seen = crate::monitoring::metric(&daemon, unknown)
        .await
        .expect("unknown results counted");
    eventually(10, async || {
        let now = crate::monitoring::metric(&daemon, unknown).await?;
        (now >= seen + 3.0).then_some(())
    })
    .await;
    let (_, alerts) = daemon.get("/api/v1/alerts?state=all").await;
    assert_eq!(alerts["alerts"], json!([]), "no alert for an unknown check");
    let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
    let warnings = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["event"] == "golive_warning")
        .count();
    assert_eq!(warnings, 1, "one warning, not one per probe: {log}");
    assert_eq!(smtp.messages().len(), 1, "one warning, not one per probe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_store_cannot_be_written_the_ops_lead_is_told_directly_and_the_alert_follows_once_it_can()
 {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 60, "")).await;
    // Another process holds the database's write lock for longer than golive waits for it.
    let blocker = crate::helpers::open_database(&daemon.dir);
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    target.set(503);
    let messages = smtp.wait_for(1, Duration::from_secs(20)).await;
    let warning = &messages[0];
    assert_eq!(to(warning), ["bob@example.com"]);
    assert!(
        warning.email.subject.contains("golive's store is failing"),
        "{}",
        warning.email.subject
    );
    assert!(
        warning
            .email
            .text
            .as_deref()
            .unwrap_or("")
            .contains("cannot write its store")
    );
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    // Once the store works again the alert is opened and paged (reconciliation), not lost.
    let messages = smtp.wait_for(2, Duration::from_secs(30)).await;
    assert!(
        messages[1]
            .email
            .subject
            .starts_with("[CRITICAL] Shop front page — Test shop"),
        "{}",
        messages[1].email.subject
    );
    assert_eq!(open_alert(&daemon).await["key"], "check:web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_probes_tests_the_channels_and_names_an_owner_for_every_gap() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(
        temp.path().join("plan.toml"),
        alerting_plan(&target.url(), smtp.port, &hook.url, 60, ""),
    )
    .unwrap();
    let dir = temp.path().to_path_buf();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || crate::helpers::cli(&dir, &["preflight", "plan.toml"]))
            .await
            .unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("PREFLIGHT Test shop"), "{out}");
    assert!(out.contains("Checks: 0 of 1 healthy"), "{out}");
    assert!(
        out.contains("check `web` is failing: status 503 (expected 2xx) (owner: Bob Berg (bob))"),
        "the failing check's risk owner owns the gap: {out}"
    );
    assert!(out.contains("ok   email"), "{out}");
    assert!(out.contains("ok   chat"), "{out}");
    assert!(
        out.contains("nobody holds the roles"),
        "plan warnings are gaps too: {out}"
    );
    assert!(
        out.contains("(owner: Alice Adler (alice))"),
        "the project manager owns plan gaps: {out}"
    );
    assert!(
        out.contains("[ ] backup"),
        "the checklist to confirm on the call: {out}"
    );
    assert!(out.contains("NO-GO:"), "{out}");
    let messages = smtp.wait_for(1, Duration::from_secs(5)).await;
    assert!(messages[0].email.subject.starts_with("[TEST] Test shop"));
    assert!(
        !temp.path().join("data").exists(),
        "a preflight creates no store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_and_overdue_action_items_remind_their_owner_once_a_day_even_across_a_restart() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    // 19:00 in Berlin: this morning's reminders (09:00) are due.
    let golive =
        spawn_with_clock(&alerting_plan(&target.url(), smtp.port, &hook.url, 60, "")).await;
    let today: jiff::civil::Date = "2030-01-01".parse().unwrap();
    for (title, due) in [
        ("Publish the release notes", today),
        ("Write the post-mortem", today.yesterday().unwrap()),
        ("Tune alert thresholds", today.tomorrow().unwrap()),
    ] {
        let (status, body) = golive
            .api
            .post(
                "/api/v1/actions",
                json!({"title": title, "owner": "bob", "due": due.to_string()}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // The engine does what is due before each command it answers: once this answer is back,
    // every reminder the three items get today is recorded (with its email, in one transaction).
    let (status, body) = golive
        .api
        .patch("/api/v1/actions/1", json!({"status": "done"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        reminders_logged(&golive.api).await,
        [1, 2],
        "not tomorrow's"
    );
    let messages = smtp.wait_for(2, Duration::from_secs(10)).await;
    let subjects: Vec<&str> = messages.iter().map(|m| m.email.subject.as_str()).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("action item #1 is due today")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("action item #2 is overdue")),
        "{subjects:?}"
    );
    assert!(messages.iter().all(|m| m.recipients == ["bob@example.com"]));

    // A restart the same day sends nothing again.
    let golive = golive.restart().await;
    golive.engine.tick().await.expect("tick");
    assert_eq!(
        reminders_logged(&golive.api).await,
        [1, 2],
        "no reminder twice on one day"
    );

    // The next morning at 09:00, not a minute before: the overdue item again and the one due
    // then; the done item never again.
    golive
        .advance(SignedDuration::from_hours(14) - SignedDuration::from_mins(1))
        .await;
    assert_eq!(reminders_logged(&golive.api).await, [1, 2], "before 09:00");
    golive.advance(SignedDuration::from_mins(1)).await;
    assert_eq!(reminders_logged(&golive.api).await, [1, 2, 2, 3]);
    let messages = smtp.wait_for(4, Duration::from_secs(10)).await;
    let subjects: Vec<&str> = messages[2..]
        .iter()
        .map(|m| m.email.subject.as_str())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("action item #2 is overdue")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("action item #3 is due today")),
        "{subjects:?}"
    );
    golive.stop().await;
}

/// The action items reminded so far, by id, once per reminder, sorted.
async fn reminders_logged(daemon: &Daemon) -> Vec<i64> {
    let (_, log) = daemon.get("/api/v1/log?kind=action").await;
    let mut reminded: Vec<i64> = log["entries"]
        .as_array()
        .expect("log entries")
        .iter()
        .filter(|e| e["data"]["event"] == "reminder")
        .map(|e| e["data"]["action"].as_i64().expect("the item's id"))
        .collect();
    reminded.sort_unstable();
    reminded
}

/// An Alertmanager stand-in that records every alert golive posts to `/api/v2/alerts`.
async fn alertmanager_recorder() -> (String, Arc<Mutex<Vec<Value>>>) {
    let posted = Arc::new(Mutex::new(Vec::new()));
    let store = posted.clone();
    let app = Router::new().route(
        "/api/v2/alerts",
        post(move |axum::Json(body): axum::Json<Value>| {
            let store = store.clone();
            async move {
                if let Some(alerts) = body.as_array() {
                    store.lock().unwrap().extend(alerts.iter().cloned());
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, posted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_forwarded_to_alertmanager_is_sent_again_while_it_stays_open() {
    use jiff::Timestamp;

    let (alertmanager, posted) = alertmanager_recorder().await;
    let refused = crate::targets::refused_address().await;
    let plan = format!(
        r#"
[launch]
name = "Forwarding"
timezone = "UTC"
go_live = 2030-01-01T20:00:00
hypercare_days = 1
data_dir = "data"

[[people]]
id = "alice"
name = "Alice"
role = "ops_lead"
email = "alice@example.com"

[server]
listen = "127.0.0.1:0"

[[checks]]
id = "db"
kind = "tcp"
severity = "critical"
address = "{refused}"
interval = "1s"
phases = ["planned"]

[[channels]]
id = "am"
kind = "alertmanager"
url = "{alertmanager}"

[[escalation]]
id = "page"
levels = [{{ notify = ["alice"], channels = ["am"] }}]

[alerting]
policies = {{ critical = "page" }}
"#
    );
    let golive = spawn_with_clock(&plan).await;
    let forwards = async || {
        alert_rows(&golive.api, 1)
            .await
            .iter()
            .filter(|row| row["channel"] == "am")
            .count()
    };

    let ends_at =
        |alert: &Value| -> Timestamp { alert["endsAt"].as_str().unwrap().parse().unwrap() };
    // The failing check's alert is forwarded, ending a day ahead.
    let first = eventually(20, async || posted.lock().unwrap().first().cloned()).await;
    assert_eq!(first["labels"]["check"], "db", "{first}");
    let forwarded_at = golive.now();
    assert!(
        ends_at(&first) > forwarded_at + SignedDuration::from_hours(23),
        "{first}"
    );

    // Someone takes it: escalation and its repeats stop, but the alert stays open (and firing in
    // Alertmanager) until the check recovers.
    golive
        .engine
        .acknowledge(1, "alice".to_string(), None, "test")
        .await
        .expect("acknowledge");
    let before = forwards().await;

    // Within the hour nothing more goes out; after it, the open alert is forwarded again with an
    // end a day after that, so Alertmanager never ends it while it is open here.
    golive.advance(SignedDuration::from_mins(59)).await;
    assert_eq!(forwards().await, before, "nothing within the hour");
    golive.advance(SignedDuration::from_mins(2)).await;
    assert_eq!(forwards().await, before + 1, "forwarded again after it");
    let again = eventually(20, async || {
        let posted = posted.lock().unwrap();
        (posted.len() == before + 1).then(|| posted[before].clone())
    })
    .await;
    assert_eq!(again["labels"]["check"], "db", "{again}");
    assert_eq!(again["startsAt"], first["startsAt"]);
    assert!(
        ends_at(&again) > forwarded_at + SignedDuration::from_hours(24),
        "{again}"
    );
    golive.stop().await;
}

/// The release gate's view in `GET /api/v1/status` lists the open critical alerts as the engine
/// holds them: a check's alert with its title and reason as the alert itself says them, an
/// Alertmanager alert as soon as its intake has been answered, and neither once resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_answer_lists_the_open_critical_alerts_and_drops_them_once_resolved() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 60, "")).await;
    let alert = open_alert(&daemon).await;
    let open_critical = async || {
        let (status, body) = daemon.get("/api/v1/status").await;
        assert_eq!(status, 200, "{body}");
        body["verification"]["open_critical_alerts"]
            .as_array()
            .cloned()
            .expect("the open critical alerts")
    };
    // (The alert is stored a moment before the engine publishes it.)
    let listed = eventually(10, async || {
        let listed = open_critical().await;
        (!listed.is_empty()).then_some(listed)
    })
    .await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    for field in ["id", "title", "reason"] {
        assert_eq!(listed[0][field], alert[field], "{field}");
    }
    assert_eq!(listed[0]["severity"], "critical");

    let (status, body) = daemon
        .post("/api/v1/alertmanager", am_payload("firing", "d4e5f6"))
        .await;
    assert_eq!(status, 200, "{body}");
    let titles = |listed: &[Value]| -> Vec<String> {
        listed
            .iter()
            .filter_map(|alert| alert["title"].as_str().map(String::from))
            .collect()
    };
    let listed = titles(&open_critical().await);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed[0].contains("HighErrorRate"),
        "newest first: {listed:?}"
    );

    daemon
        .post("/api/v1/alertmanager", am_payload("resolved", "d4e5f6"))
        .await;
    assert_eq!(
        titles(&open_critical().await),
        [alert["title"].as_str().unwrap()]
    );
    target.set(200);
    eventually(20, async || open_critical().await.is_empty().then_some(())).await;
}

/// The release gate in `GET /api/v1/status` is the engine's live view (its published snapshot),
/// not a read of the store: an open alert's reason follows its failing check at once (the engine
/// keeps it current in memory and stores it with the alert's next escalation step), while the
/// stored alert still says why it opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_answer_gives_an_open_alerts_reason_as_the_engine_holds_it_now() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    // The second escalation step (which would store the new reason) is ten minutes away.
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 600, "")).await;
    let alert = open_alert(&daemon).await;
    let opened_with = alert["reason"].as_str().unwrap().to_string();
    assert!(opened_with.contains("503"), "{alert}");

    target.set(500);
    let listed = eventually(10, async || {
        let (status, body) = daemon.get("/api/v1/status").await;
        assert_eq!(status, 200, "{body}");
        let listed = body["verification"]["open_critical_alerts"].clone();
        (listed[0]["reason"].as_str()?.contains("500")).then_some(listed)
    })
    .await;
    assert_eq!(listed[0]["id"], alert["id"], "{listed}");
    let (_, stored) = daemon.get(&format!("/api/v1/alerts/{}", alert["id"])).await;
    assert_eq!(
        stored["alert"]["reason"], opened_with,
        "the store still holds the opening reason: {stored}"
    );
}

/// An Alertmanager alert whose opening was committed though its answer was lost (a PostgreSQL
/// failover) is stored open — `/api/v1/alerts` lists it — while the engine never learnt of it.
/// When Alertmanager sends it again (the first answer was an error), it is not opened a second
/// time: the engine takes the stored alert, and the release gate in the status answer sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_stored_by_a_commit_whose_answer_was_lost_is_taken_when_sent_again_not_opened_twice()
 {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let daemon = Daemon::start(&alerting_plan(&target.url(), smtp.port, &hook.url, 60, "")).await;
    // What the lost answer leaves behind: the alert's row, committed beside the running engine.
    let now = jiff::Timestamp::now().as_millisecond();
    let stored_id: i64 = {
        let database = crate::helpers::open_database(&daemon.dir);
        database
            .busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        database
            .query_row(
                "INSERT INTO alerts (key, title, severity, policy, opened_at, reason, level, \
                 escalation_base, notified, max_level, labels) VALUES ('alertmanager:e5f6a7', \
                 'HighErrorRate', 'critical', 'page', ?1, '5xx rate above 5% for 2m', 0, ?1, '[]', \
                 0, '{}') RETURNING id",
                [now],
                |row| row.get(0),
            )
            .unwrap()
    };

    let (status, body) = daemon
        .post("/api/v1/alertmanager", am_payload("firing", "e5f6a7"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, open) = daemon.get("/api/v1/alerts").await;
    let ids: Vec<&Value> = open["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| &alert["id"])
        .collect();
    assert_eq!(
        ids,
        [&json!(stored_id)],
        "one alert, the stored one: {open}"
    );
    let (status, body) = daemon.get("/api/v1/status").await;
    assert_eq!(status, 200, "{body}");
    let listed = &body["verification"]["open_critical_alerts"];
    assert_eq!(listed[0]["id"], stored_id, "the gate sees it: {listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

/// The emails to bob whose subject starts with `prefix`, once there are `count` of them.
async fn bobs(smtp: &SmtpServer, prefix: &str, count: usize) -> Vec<ReceivedMessage> {
    eventually(30, async || {
        let found = bobs_now(&smtp.messages(), prefix);
        (found.len() >= count).then_some(found)
    })
    .await
}

/// The emails to bob received so far whose subject starts with `prefix`.
fn bobs_now(messages: &[ReceivedMessage], prefix: &str) -> Vec<ReceivedMessage> {
    messages
        .iter()
        .filter(|message| {
            to(message) == ["bob@example.com"] && message.email.subject.starts_with(prefix)
        })
        .cloned()
        .collect()
}

/// Turns the test hook on or off that makes every committed alert write report a lost answer.
async fn lose_commit_answers(daemon: &Daemon, on: bool) {
    let (status, body) = daemon
        .post(
            "/api/v1/test/lose-alert-commit-answers",
            json!({ "lose": on }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A write that changes alerts may commit though its answer is lost (PostgreSQL's connection
/// gone between `COMMIT` and its answer; the test hook makes every alert write do that). The
/// engine reads the open alerts again before its next alert decision: the alert a lost commit
/// opened is paged and resolved — though its check recovered before any retry could adopt it —
/// and the alert a lost commit resolved is not resolved again, nor does it keep the check's next
/// failure from opening a new alert. Each page and each resolution goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_writes_whose_answers_are_lost_still_page_and_resolve_once() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let plan = alerting_plan(&target.url(), smtp.port, &hook.url, 60, "");
    let daemon = Daemon::start_with_env(&plan, &[("GOLIVE_TEST_HOOKS", "1")]).await;
    healthy(&daemon, "web").await;
    lose_commit_answers(&daemon, true).await;

    // The opening and the first page commit, and the engine is told both failed.
    target.set(503);
    let page = bobs(&smtp, "[CRITICAL] Shop front page", 1).await;
    let first_root = page[0].email.references.first().cloned();
    // The check recovers; the resolution's answer is lost too.
    target.set(200);
    let resolved = bobs(&smtp, "[RESOLVED] ", 1).await;
    assert_eq!(resolved[0].email.references.first(), first_root.as_ref());

    // Answers arrive again. A second failure is a new alert, paged and resolved once.
    lose_commit_answers(&daemon, false).await;
    target.set(503);
    let pages = bobs(&smtp, "[CRITICAL] Shop front page", 2).await;
    assert_ne!(
        pages[1].email.references.first(),
        first_root.as_ref(),
        "a new alert's thread"
    );
    target.set(200);
    let resolved = bobs(&smtp, "[RESOLVED] ", 2).await;
    assert_eq!(
        resolved[1].email.references.first(),
        pages[1].email.references.first()
    );

    let (_, open) = daemon.get("/api/v1/alerts").await;
    assert_eq!(open["alerts"], json!([]), "{open}");
    let (_, log) = daemon.get("/api/v1/log?kind=alert&order=asc").await;
    let texts: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["text"].as_str())
        .collect();
    for (what, count) in [
        (" Alert opened: ", 2),
        (" Alert resolved: ", 2),
        (" Notified — level 1 ", 2),
    ] {
        let found = texts.iter().filter(|text| text.contains(what)).count();
        assert_eq!(found, count, "{what}: {texts:#?}");
    }
    let all = smtp.messages();
    assert_eq!(bobs_now(&all, "[CRITICAL] ").len(), 2, "one page per alert");
    assert_eq!(
        bobs_now(&all, "[RESOLVED] ").len(),
        2,
        "one resolution per alert"
    );
}

/// A reload that removes a failing check resolves its alert. When that write's answer is lost,
/// the reload is refused as store trouble (503) and the plan in force stays, though the store
/// holds the alert resolved: the engine takes the store's word (the check, still in the plan in
/// force and failing, gets a new alert) and the retried reload resolves what is open then. No
/// alert is resolved twice, and nothing stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_whose_answer_was_lost_resolves_the_removed_checks_alert_once() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let failing = Switchable::start(503).await;
    let steady = Switchable::start(200).await;
    let plan = alerting_plan(&failing.url(), smtp.port, &hook.url, 60, "");
    let daemon = Daemon::start_with_env(&plan, &[("GOLIVE_TEST_HOOKS", "1")]).await;
    bobs(&smtp, "[CRITICAL] Shop front page", 1).await;

    // The plan without `web`: another check in its place.
    let without_web = alerting_plan(&steady.url(), smtp.port, &hook.url, 60, "")
        .replace("id = \"web\"", "id = \"api\"");
    std::fs::write(daemon.dir.join("plan.toml"), without_web).expect("write plan");
    lose_commit_answers(&daemon, true).await;
    let (status, body) = daemon.post("/api/v1/reload", json!({})).await;
    assert_eq!(status, 503, "{body}");
    bobs(&smtp, "[RESOLVED] ", 1).await;
    lose_commit_answers(&daemon, false).await;
    let (status, body) = daemon.post("/api/v1/reload", json!({})).await;
    assert_eq!(status, 200, "{body}");

    // After the reload: `api` probed and healthy, nothing open, no alert resolved twice.
    healthy(&daemon, "api").await;
    let (_, open) = daemon.get("/api/v1/alerts").await;
    assert_eq!(open["alerts"], json!([]), "{open}");
    let (_, log) = daemon.get("/api/v1/log?kind=alert&order=asc").await;
    let mut resolutions = std::collections::BTreeMap::<i64, usize>::new();
    for entry in log["entries"].as_array().unwrap() {
        if entry["data"]["event"] == "resolved" {
            *resolutions
                .entry(entry["data"]["alert"].as_i64().unwrap())
                .or_default() += 1;
        }
    }
    assert!(!resolutions.is_empty(), "{log}");
    assert!(
        resolutions.values().all(|count| *count == 1),
        "an alert resolved twice: {resolutions:?} {log}"
    );
}
