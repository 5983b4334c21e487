//! Feedback from people without tokens, end to end: each report copy that reaches a recipient
//! over real SMTP (aiosmtpd) carries that person's own link; opening it shows a form and records
//! nothing; sending the form records one `feedback` entry under the person's name, escaped
//! wherever it is shown, and the next report carries it; a used, expired or changed link is
//! refused with a page that says so.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::helpers::{BASE_PLAN, Daemon};
use crate::smtp::{ReceivedMessage, SmtpOptions, SmtpServer};

fn feedback_plan(smtp_port: u16) -> String {
    format!(
        r#"{BASE_PLAN}
[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
allow_insecure = true
from = "golive <golive@test.example>"
timeout = "5s"

[[channels]]
id = "email"
kind = "email"

[reports]
time = "03:00"
to = ["alice", "stakeholders@test.example"]
"#
    )
}

async fn to_hypercare(daemon: &Daemon) {
    for to in ["go_no_go", "deploying", "verifying", "hypercare"] {
        let (status, body) = daemon
            .post(
                "/api/v1/phase",
                json!({"to": to, "force": true, "reason": "feedback test"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Sends the daily report now and returns the copy that reached `address`.
async fn report_for(
    daemon: &Daemon,
    smtp: &SmtpServer,
    already: usize,
    address: &str,
) -> ReceivedMessage {
    let (status, body) = daemon.post("/api/v1/reports/send", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let messages = smtp.wait_for(already + 2, Duration::from_secs(30)).await;
    let mine: Vec<&ReceivedMessage> = messages[already..]
        .iter()
        .filter(|message| message.recipients == [address])
        .collect();
    assert_eq!(mine.len(), 1, "one copy for {address}");
    mine[0].clone()
}

/// The feedback link's path (`/feedback/TOKEN`) in a report's text.
fn feedback_path(message: &ReceivedMessage) -> String {
    let text = message.email.text.clone().unwrap_or_default();
    let start = text.find("/feedback/").expect("a feedback link");
    text[start..].split_whitespace().next().unwrap().to_string()
}

async fn post_form(daemon: &Daemon, path: &str, text: &str) -> (u16, String) {
    // Form encoding as a browser sends it (`+` for spaces, `%XX` escapes).
    let mut encoder = reqwest::Url::parse("http://form.invalid/").unwrap();
    encoder.query_pairs_mut().append_pair("text", text);
    let response = daemon
        .http
        .post(daemon.at(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoder.query().unwrap_or_default().to_string())
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn feedback_entries(daemon: &Daemon) -> Vec<serde_json::Value> {
    let (status, body) = daemon.get("/api/v1/log?kind=feedback").await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

const HOSTILE: &str = "<script>alert(1)</script> Checkout felt faster & smoother";

#[tokio::test]
async fn a_report_link_shows_a_form_records_feedback_once_escaped_and_the_next_report_carries_it() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let daemon = Daemon::start(&feedback_plan(smtp.port)).await;
    to_hypercare(&daemon).await;
    let report = report_for(&daemon, &smtp, 0, "alice@example.com").await;
    let path = feedback_path(&report);
    let other = report_for(&daemon, &smtp, 2, "stakeholders@test.example").await;
    assert_ne!(
        feedback_path(&other),
        path,
        "each recipient has a link of their own"
    );
    let html = report.email.html.clone().unwrap_or_default();
    assert!(html.contains("id=\"feedback\""), "{html}");

    // Opening the link (as a mail scanner would, twice) shows the form and records nothing.
    for _ in 0..2 {
        let (status, page) = daemon.get_text(&path).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("<form method=\"post\""), "{page}");
        assert!(
            page.contains("recorded as <strong>Alice Adler</strong>"),
            "{page}"
        );
        assert!(page.contains("maxlength=\"2000\""), "{page}");
    }
    assert!(feedback_entries(&daemon).await.is_empty());

    // Too long: refused, nothing recorded, and the link still works.
    let (status, page) = post_form(&daemon, &path, &"a".repeat(2001)).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("at most 2000 fit"), "{page}");

    let (status, page) = post_form(&daemon, &path, HOSTILE).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        page.contains("the launch team sees it on the status page, in the timeline and in the launch's next report"),
        "a daily report's link, while the launch runs, promises the next report: {page}"
    );
    let entries = feedback_entries(&daemon).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["author"], "Alice Adler");
    assert_eq!(entries[0]["text"], HOSTILE);

    // A second use is refused and records nothing more.
    let (status, page) = post_form(&daemon, &path, "again").await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("This link was used already"), "{page}");
    assert_eq!(feedback_entries(&daemon).await.len(), 1);

    // The status page, the timeline and the next report show it, escaped where it is HTML.
    let (_, status_page) = daemon.get_text("/").await;
    assert!(
        status_page.contains("Checkout felt faster &amp; smoother"),
        "{status_page}"
    );
    assert!(
        !status_page.contains("<script>alert"),
        "the status page runs the feedback"
    );
    let (_, timeline) = daemon.get_text("/api/v1/timeline").await;
    assert!(
        timeline.contains("Checkout felt faster & smoother"),
        "{timeline}"
    );
    assert!(
        timeline.contains("&lt;script&gt;alert\\(1\\)") && !timeline.contains("<script>"),
        "the timeline, Markdown for a wiki, renders no HTML a link holder wrote: {timeline}"
    );
    let next = report_for(&daemon, &smtp, 4, "stakeholders@test.example").await;
    let text = next.email.text.clone().unwrap_or_default();
    assert!(text.contains("Checkout felt faster & smoother"), "{text}");
    assert!(text.contains("Alice Adler"), "{text}");
    let html = next.email.html.clone().unwrap_or_default();
    assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
}

#[tokio::test]
async fn expired_changed_and_acknowledgement_links_are_refused_and_a_final_reports_link_promises_no_next_report()
 {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let daemon = Daemon::start(&feedback_plan(smtp.port)).await;
    to_hypercare(&daemon).await;
    let report = report_for(&daemon, &smtp, 0, "alice@example.com").await;
    let path = feedback_path(&report);

    // One character of the signature changed.
    let mut tampered = path.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let (status, page) = daemon.get_text(&tampered).await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("not issued by this launch, or it was changed"),
        "{page}"
    );
    let (status, _) = post_form(&daemon, &tampered, "sneaky").await;
    assert_eq!(status, 400);

    // A link signed with the daemon's own key but expired an hour ago.
    let key = std::fs::read(daemon.dir.join("data/ack-link.key")).expect("the link key");
    let expired = golive::ack_link::issue_feedback(
        &key,
        "daily 2026-12-01",
        "alice",
        Timestamp::now() - SignedDuration::from_hours(1),
        &[7; 12],
    );
    let (status, page) = daemon.get_text(&format!("/feedback/{expired}")).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("This feedback link has expired"), "{page}");
    let (status, _) = post_form(&daemon, &format!("/feedback/{expired}"), "late").await;
    assert_eq!(status, 410);

    // An acknowledgement token (same key, other purpose) is no feedback link.
    let ack = golive::ack_link::issue(
        &key,
        &golive::ack_link::AckTarget::Alert(1),
        "alice",
        Timestamp::now() + SignedDuration::from_hours(1),
        &[8; 12],
    );
    let (status, _) = post_form(&daemon, &format!("/feedback/{ack}"), "via ack").await;
    assert_eq!(status, 400);

    assert!(feedback_entries(&daemon).await.is_empty());
    // A final report's link promises no report after it: the log, status page and timeline.
    let final_link = golive::ack_link::issue_feedback(
        &key,
        "final",
        "alice",
        Timestamp::now() + SignedDuration::from_hours(1),
        &[9; 12],
    );
    let (status, page) = post_form(&daemon, &format!("/feedback/{final_link}"), "Well done").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("in the launch log"), "{page}");
    assert!(!page.contains("next report"), "{page}");
    assert_eq!(feedback_entries(&daemon).await.len(), 1);
    // The genuine link still works.
    let (status, _) = post_form(&daemon, &path, "All fine on our side").await;
    assert_eq!(status, 200);
    assert_eq!(feedback_entries(&daemon).await.len(), 2);
}
