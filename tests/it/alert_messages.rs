//! What an alert's messages say, end to end: the real daemon pages through a real SMTP server
//! (aiosmtpd) and a real webhook receiver while a runbook step runs, and the page, the chat post
//! and the acknowledgement read as people need them — the state first in the subject, the step in
//! progress, the status page link, the probed URL without its token, the contingency before the
//! complete rollback procedure, and chat text that cannot mention anyone or disguise a link.

use serde_json::json;

use crate::alerting::Receiver;
use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::monitoring::Switchable;
use crate::plans::{channels, http_check, page_policy};
use crate::smtp::{SmtpOptions, SmtpServer};

/// A runbook step under way while the alert opens.
const RUNBOOK: &str = r#"
[[runbook.steps]]
id = "deploy"
title = "Deploy release 2.0"
owner = "bob"
start = "+00:00"
duration = "30m"
"#;

fn plan(target: &str, smtp_port: u16, hook: &str) -> String {
    let plan = format!(
        "{BASE_PLAN}{}{RUNBOOK}{}{}",
        http_check("web", &format!("{target}?token=s3cret-probe-token"))
            .named("Shop <!channel> front & back")
            .with(r#"risks = ["payments"]"#),
        channels(smtp_port, hook, "2s"),
        page_policy()
            .level("0s", &["bob"], &["email", "chat"])
            .level("10m", &["alice"], &["email"])
            .alerting(r#"public_url = "https://golive.shop.example""#),
    );
    plan.replace(
        "[rollback]\nprocedure = \"Redeploy release 1.9 and restore the database snapshot\"",
        "[rollback]\nprocedure = \"\"\"\n1. Redeploy release 1.9.\n2. Restore the orders database from the pre-launch backup first, then\n   replay the payment queue.\"\"\"\ncriteria = [{ checks = [\"web\"], severity = \"critical\" }]",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_and_its_chat_post_say_what_people_need_and_an_acknowledgement_carries_its_note() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let daemon = Daemon::start(&plan(&target.url(), smtp.port, &hook.url)).await;
    for _ in 0..2 {
        daemon
            .post("/api/v1/phase", json!({"force": true, "reason": "test"}))
            .await;
    }
    assert_eq!(daemon.get("/api/v1/status").await.1["phase"], "deploying");
    let (status, body) = daemon
        .post("/api/v1/runbook/deploy/start", json!({"author": "bob"}))
        .await;
    assert_eq!(status, 200, "{body}");
    target.set(503);

    // The page to bob (the rollback recommendation to the project manager is another email).
    let page = eventually(10, async || {
        smtp.messages().into_iter().find(|message| {
            message.recipients.iter().any(|r| r == "bob@example.com")
                && !message.email.subject.starts_with("[ROLLBACK")
        })
    })
    .await;
    let subject = &page.email.subject;
    assert_eq!(
        subject, "[CRITICAL] Shop <!channel> front & back — Test shop",
        "the state first, then the alert and the launch"
    );
    let text = page.email.text.clone().unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&"Launch: Test shop, phase deploying"),
        "{text}"
    );
    assert!(
        lines.iter().any(
            |line| line.starts_with("Runbook: `deploy` Deploy release 2.0, started ")
                && line.ends_with(" by bob")
        ),
        "the step in progress: {text}"
    );
    assert!(
        lines.contains(&"Status page: https://golive.shop.example/#alert-1"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("Check: ")
                && line.ends_with(&format!("GET {}", target.url()))),
        "the probed URL: {text}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("Next: level 2 (Alice Adler) at ")),
        "{text}"
    );
    assert!(
        !text.contains("s3cret"),
        "the probe's token stays out: {text}"
    );
    let contingency = text
        .find("Switch to the fallback provider")
        .expect("contingency");
    let rollback = text.find("ROLLBACK RECOMMENDED").expect("rollback advice");
    assert!(contingency < rollback, "contingency first: {text}");
    let html = page.email.html.clone().unwrap_or_default();
    assert!(!html.contains("s3cret") && !html.contains("<!channel>"));

    // The chat post: the same facts, complete, with the hostile name as plain text.
    let chat = eventually(10, async || hook.texts().first().cloned()).await;
    assert!(
        chat.starts_with("*[CRITICAL] Shop &lt;!channel&gt; front &amp; back — Test shop*\n"),
        "{chat}"
    );
    assert!(!chat.contains("<!channel>"), "{chat}");
    assert!(
        chat.contains(
            "2. Restore the orders database from the pre-launch backup first, then\n   replay the payment queue."
        ),
        "the rollback procedure arrives complete: {chat}"
    );
    assert!(
        chat.find("Contingency (Payment provider rejects live transactions)")
            .expect("contingency")
            < chat.find("Rollback recommended").expect("rollback advice"),
        "contingency first: {chat}"
    );
    assert!(
        chat.contains("<https://golive.shop.example/#alert-1|Alert #1 on the status page>"),
        "golive's own link stays a link: {chat}"
    );
    assert!(!chat.contains("s3cret"), "{chat}");

    // The acknowledgement, with a note written to trick the chat.
    let (status, body) = daemon
        .post(
            "/api/v1/alerts/1/ack",
            json!({"author": "Bob Berg", "note": "<!here> switching to the fallback & watching"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let acknowledgement = eventually(10, async || {
        smtp.messages()
            .into_iter()
            .find(|message| message.email.subject.starts_with("[ACKNOWLEDGED] "))
    })
    .await;
    // One conversation in Outlook too: the same topic and the same conversation GUID (the
    // Thread-Index after its first six bytes, eight base64 characters) as the page.
    let header = |message: &crate::smtp::ReceivedMessage, name: &str| {
        message
            .email
            .header(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        header(&acknowledgement, "Thread-Topic"),
        header(&page, "Thread-Topic")
    );
    assert_eq!(
        header(&acknowledgement, "Thread-Index")[8..],
        header(&page, "Thread-Index")[8..]
    );
    let ack_text = acknowledgement.email.text.clone().unwrap_or_default();
    assert!(
        ack_text
            .lines()
            .any(|line| line == "Their note: <!here> switching to the fallback & watching"),
        "{ack_text}"
    );
    let ack_chat = eventually(10, async || {
        hook.texts()
            .into_iter()
            .find(|text| text.starts_with("*[ACKNOWLEDGED] "))
    })
    .await;
    assert!(
        ack_chat.contains("Note: &lt;!here&gt; switching to the fallback &amp; watching"),
        "{ack_chat}"
    );
    assert!(!ack_chat.contains("<!here>"), "{ack_chat}");
}
