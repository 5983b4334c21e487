//! Stakeholder updates (`[updates]`) end to end through the real daemon, a real SMTP server
//! (aiosmtpd) and a real chat webhook receiver: an update on each phase change the plan
//! announces and none on the others, in one thread per launch; a manual update by CLI and API
//! to the same audience, in the log, on the status page and in the daily report; a `kill -9`
//! between the phase change and the delivery never sends an update twice; bad input is named.

use std::time::Duration;

use serde_json::{Value, json};

use crate::alerting::Receiver;
use crate::helpers::{BASE_PLAN, Daemon, cli, eventually, open_database};
use crate::plans::channels;
use crate::smtp::{ReceivedMessage, SmtpOptions, SmtpServer};

/// The base plan with a business stakeholder, the SMTP server and chat hook, and `[updates]` to
/// the business role and a support list, announcing the go decision, hypercare and a rollback.
fn plan(smtp_port: u16, hook: &str, extra: &str) -> String {
    format!(
        r#"{BASE_PLAN}
[[people]]
id = "dana"
name = "Dana Dorn"
role = "business"
email = "dana@example.com"
{channels}
[reports]
to = ["project_manager"]

[updates]
to = ["business", "support@example.com"]
channels = ["chat"]
on = ["deploying", "hypercare", "rolled_back"]
{extra}"#,
        channels = channels(smtp_port, hook, "5s")
    )
}

/// Moves the launch one phase on, forced (the checklist is not the point here).
async fn advance(daemon: &Daemon) {
    let (status, body) = daemon
        .post(
            "/api/v1/phase",
            json!({"force": true, "reason": "testing updates"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn updates(messages: &[ReceivedMessage]) -> Vec<&ReceivedMessage> {
    messages
        .iter()
        .filter(|message| message.email.subject.starts_with("[UPDATE] "))
        .collect()
}

/// The update rows of the outbox as (channel, status), once none is pending any more.
async fn delivered_update_rows(daemon: &Daemon) -> Vec<(String, String)> {
    eventually(15, async || {
        let database = open_database(&daemon.dir);
        let mut statement = database
            .prepare("SELECT channel, status FROM outbox WHERE kind = 'update' ORDER BY id")
            .unwrap();
        let rows: Vec<(String, String)> = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.iter()
            .all(|(_, status)| status == "delivered")
            .then_some(rows)
    })
    .await
}

async fn update_entries(daemon: &Daemon) -> Vec<Value> {
    let (status, body) = daemon.get("/api/v1/log?kind=update&limit=50").await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_update_arrives_on_each_configured_phase_change_and_on_no_other() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let daemon = Daemon::start(&plan(smtp.port, &hook.url, "")).await;
    // go_no_go (not announced), deploying (announced), verifying (not), hypercare (announced).
    for _ in 0..4 {
        advance(&daemon).await;
    }
    let (status, body) = daemon
        .post(
            "/api/v1/rollback",
            json!({"reason": "payments fail for one card type", "author": "alice"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Three updates, each one email and one chat post, and nothing else waiting.
    // (Delivered means the SMTP server accepted it; a daily report may come besides.)
    let rows = delivered_update_rows(&daemon).await;
    assert_eq!(rows.len(), 6, "{rows:?}");
    let messages = smtp.messages();
    let sent = updates(&messages);
    let subjects: Vec<&str> = sent.iter().map(|m| m.email.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "[UPDATE] Test shop: go — the deployment has started",
            "[UPDATE] Test shop: live and checked — close monitoring has begun",
            "[UPDATE] Test shop: rolled back — the previous version is being restored",
        ],
        "every email: {:?}",
        messages
            .iter()
            .map(|m| &m.email.subject)
            .collect::<Vec<_>>()
    );
    for message in &sent {
        assert_eq!(
            message.recipients,
            ["dana@example.com", "support@example.com"]
        );
        let text = message.email.text.as_deref().unwrap_or_default();
        assert!(text.contains("What it means for you: "), "{text}");
        assert!(
            text.contains("Questions: Alice Adler <alice@example.com>"),
            "{text}"
        );
    }
    // One thread per launch: every update names the same root first, and no two share an id.
    let root = &sent[0].email.references[0];
    assert!(
        root.starts_with("updates.") && root.ends_with("@test.example"),
        "{root}"
    );
    assert!(
        sent.iter()
            .all(|m| m.email.references.first() == Some(root))
    );
    assert!(sent[0].email.message_id != sent[1].email.message_id);
    let rolled_back = sent[2].email.text.as_deref().unwrap_or_default();
    assert!(
        rolled_back.contains("Why: payments fail for one card type"),
        "{rolled_back}"
    );
    // The deployment started announcement promises the next update only where one will come:
    // `verifying` is not announced.
    assert!(
        !sent[0]
            .email
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("You will hear")
    );

    let posts: Vec<String> = hook
        .texts()
        .into_iter()
        .filter(|text| text.starts_with("*[UPDATE] Test shop: "))
        .collect();
    assert_eq!(posts.len(), 3, "{posts:?}");
    let logged: Vec<String> = update_entries(&daemon)
        .await
        .iter()
        .map(|entry| entry["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(logged.len(), 3, "{logged:?}");
}

#[tokio::test]
async fn a_manual_update_by_cli_and_api_reaches_the_same_audience_the_log_the_page_and_the_report()
{
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let daemon = Daemon::start(&plan(smtp.port, &hook.url, "")).await;
    let (code, out, err) = cli(
        &daemon.dir,
        &[
            "update",
            "--plan",
            "plan.toml",
            "--author",
            "alice",
            "We are 20 minutes behind plan, no customer impact.",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Update sent (log #"), "{out}");
    assert!(out.contains("email, chat"), "{out}");
    let (status, body) = daemon
        .post(
            "/api/v1/updates",
            json!({"text": "Back on schedule: <b>deployment</b> done.", "author": "bob"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["update"]["kind"], "update");

    assert_eq!(delivered_update_rows(&daemon).await.len(), 4);
    let messages = smtp.messages();
    let sent = updates(&messages);
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].email.subject,
        "[UPDATE] Test shop: We are 20 minutes behind plan, no customer impact."
    );
    let first = sent[0].email.text.as_deref().unwrap_or_default();
    assert!(first.contains("— Alice Adler, "), "{first}");
    assert!(
        first.contains("Where the launch stands: planned, go-live 2030-01-01 20:00 CET."),
        "{first}"
    );
    for message in &sent {
        assert_eq!(
            message.recipients,
            ["dana@example.com", "support@example.com"]
        );
    }
    assert_eq!(sent[0].email.references, sent[1].email.references);

    let logged = update_entries(&daemon).await;
    assert_eq!(logged.len(), 2);
    assert_eq!(logged[0]["author"], "bob");
    // The status page shows the newest update, escaped.
    let (status, page) = daemon.get_text("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("Latest update"), "{page}");
    assert!(
        page.contains("Back on schedule: &lt;b&gt;deployment&lt;&#x2f;b&gt; done.")
            || page.contains("Back on schedule: &lt;b&gt;deployment&lt;/b&gt; done."),
        "the update is not on the page escaped"
    );
    // The day's report lists the updates sent.
    let (code, report, err) = cli(&daemon.dir, &["report", "preview", "--plan", "plan.toml"]);
    assert_eq!(code, 0, "{err}");
    let section = report
        .split("== Updates sent ==")
        .nth(1)
        .unwrap_or_else(|| panic!("no updates section in\n{report}"));
    assert!(
        section.contains("We are 20 minutes behind plan"),
        "{section}"
    );
}

#[tokio::test]
async fn a_restart_between_the_phase_change_and_the_delivery_never_sends_an_update_twice() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let mut daemon = Daemon::start(&plan(smtp.port, &hook.url, "")).await;
    smtp.refuse_with("451 4.7.1 Try again later");
    advance(&daemon).await;
    advance(&daemon).await;
    // The chat post went out and is recorded (a kill between a delivery and its record would
    // send it again: delivery is at least once, by design); the email waits for the relay.
    eventually(10, async || {
        let database = open_database(&daemon.dir);
        let chat: String = database
            .query_row(
                "SELECT status FROM outbox WHERE kind = 'update' AND channel = 'chat'",
                [],
                |row| row.get(0),
            )
            .ok()?;
        (chat == "delivered").then_some(())
    })
    .await;
    assert_eq!(hook.texts().len(), 1);
    daemon.kill9();
    smtp.accept();
    let dir = daemon.dir.clone();
    let restarted = Daemon::start_in(&dir).await;
    let rows = delivered_update_rows(&restarted).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let sent = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(updates(&sent).len(), 1);
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(hook.texts().len(), 1, "the chat post is not repeated");
    assert_eq!(update_entries(&restarted).await.len(), 1);
    assert_eq!(
        restarted.get("/api/v1/status").await.1["phase"],
        "deploying"
    );
}

#[tokio::test]
async fn bad_updates_are_refused_naming_what_is_wrong() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let daemon = Daemon::start(&plan(smtp.port, &hook.url, "")).await;
    let too_long = "x".repeat(2001);
    for (body, field, says) in [
        (json!({}), "text", "missing field"),
        (json!({"text": "   "}), "text", "empty"),
        (json!({"text": too_long}), "text", "2001 characters"),
        (json!({"text": 3}), "text", "expected a string"),
        (json!({"text": "x", "txt": "y"}), "txt", "unknown field"),
    ] {
        let (status, answer) = daemon.post("/api/v1/updates", body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["field"], field, "{body} → {answer}");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(says),
            "{body} → {answer}"
        );
    }
    let (status, _) = daemon
        .send(
            reqwest::Method::POST,
            "/api/v1/updates",
            json!({"text": "x"}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (code, _, err) = cli(&daemon.dir, &["update", "--plan", "plan.toml", "   "]);
    assert_ne!(code, 0);
    assert!(err.contains("text"), "{err}");
    assert!(update_entries(&daemon).await.is_empty());
    drop(daemon);

    // A plan without `[updates]` cannot send one, and says how to get there.
    let plain = format!("{BASE_PLAN}{}", channels(smtp.port, &hook.url, "5s"));
    let daemon = Daemon::start(&plain).await;
    let (status, answer) = daemon
        .post("/api/v1/updates", json!({"text": "hello"}))
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("[updates]"),
        "{answer}"
    );
    assert!(smtp.messages().is_empty());
}
