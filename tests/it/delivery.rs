//! Delivery under faults, end to end with the real daemon, a real SMTP server (aiosmtpd) and real
//! misbehaving webhook servers: Message-IDs never repeat across launches, a hung channel holds no
//! other channel back and is not hammered, and after a relay outage the waiting pages go out at
//! once, in escalation order.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::alerting::Receiver;
use crate::helpers::{BASE_PLAN, Daemon, eventually, open_database};
use crate::monitoring::Switchable;
use crate::plans::{channels, http_check, page_policy};
use crate::smtp::{SmtpOptions, SmtpServer};
use crate::targets;

/// `checks` critical checks of `target` paging bob (email + chat) at once, alice after
/// `level_two` seconds and carol after twice that; `extra` is appended to `[alerting]`.
fn plan(
    target: &str,
    checks: usize,
    smtp_port: u16,
    hook: &str,
    level_two: u64,
    extra: &str,
) -> String {
    let checks: String = (1..=checks)
        .map(|index| {
            http_check(&format!("check-{index}"), target)
                .named(&format!("Shop page {index}"))
                .failing_after(Some(1))
                .in_phases(&["planned"])
                .to_string()
        })
        .collect();
    let level_three = level_two * 2;
    format!(
        "{BASE_PLAN}{checks}{}{}",
        channels(smtp_port, hook, "30s"),
        page_policy()
            .level("0s", &["bob"], &["email", "chat"])
            .level(&format!("{level_two}s"), &["alice"], &["email"])
            .level(&format!("{level_three}s"), &["carol"], &["email"])
            .repeat("10m")
            .alerting(extra),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_and_the_real_launch_from_one_domain_never_share_a_message_id() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let mut seen = 0;
    for _launch in ["rehearsal", "real launch"] {
        let target = Switchable::start(200).await;
        let daemon = Daemon::start(&plan(&target.url(), 1, smtp.port, &hook.url, 60, "")).await;
        target.set(503);
        smtp.wait_for(seen + 1, Duration::from_secs(15)).await;
        target.set(200);
        smtp.wait_for(seen + 2, Duration::from_secs(15)).await;
        seen += 2;
        drop(daemon);
    }
    let messages = smtp.messages();
    assert_eq!(messages.len(), 4, "an opening and a resolution per launch");
    let ids: Vec<String> = messages
        .iter()
        .map(|message| message.email.message_id.clone().expect("Message-ID"))
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a Message-ID was sent twice: {ids:?}"
    );
    for id in &ids {
        assert!(id.ends_with("@test.example"), "the From domain: {id}");
    }
    // Within a launch the resolution answers the opening; across launches nothing is shared.
    assert_eq!(messages[1].email.in_reply_to, std::slice::from_ref(&ids[0]));
    assert_eq!(messages[3].email.in_reply_to, std::slice::from_ref(&ids[2]));
    assert_ne!(
        messages[0].email.references, messages[2].email.references,
        "alert #1 of each launch is its own thread"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_chat_webhook_holds_back_no_email_page_and_is_not_hammered() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    // A chat server that accepts connections and never answers (its timeout is 30 s).
    let hung = targets::accept_and_hang().await;
    let target = Switchable::start(200).await;
    // No grouping: forty alerts make forty email pages and forty chat posts.
    let daemon = Daemon::start(&plan(
        &target.url(),
        40,
        smtp.port,
        &hung.url("/hook"),
        600,
        "group_window = \"0s\"",
    ))
    .await;
    target.set(503);
    // Every email page arrives while the chat posts hang (on main, retries of the hung channel
    // held all sixteen delivery slots and a third of the pages waited about thirty seconds).
    let messages = smtp.wait_for(40, Duration::from_secs(15)).await;
    assert_eq!(messages.len(), 40);
    let subjects: HashSet<String> = messages
        .iter()
        .map(|message| message.email.subject.clone())
        .collect();
    assert_eq!(subjects.len(), 40, "one page per alert");
    // The hung channel got a limited number of connections, not one per waiting post.
    let (_, alerts) = daemon.get("/api/v1/alerts").await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 40);
    assert!(
        hung.accepted() <= 8,
        "the hung chat server was opened {} times",
        hung.accepted()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_relay_outage_the_waiting_pages_go_out_at_once_in_escalation_order() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    smtp.refuse_with("421 4.3.2 Service not available");
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let daemon = Daemon::start(&plan(&target.url(), 1, smtp.port, &hook.url, 1, "")).await;
    target.set(503);
    // The alert escalates through all three levels while the relay refuses mail.
    eventually(15, async || {
        let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
        let escalations = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["data"]["event"] == "escalated")
            .count();
        (escalations == 2).then_some(())
    })
    .await;
    // Long enough that the first page's own backoff (2, 4, 8, 16 s...) would keep it waiting
    // well after the relay is back: it has been tried four times.
    email_tried(&daemon, 4).await;
    // golive still holds all three pages: nothing counted as delivered while the relay refused.
    let delivered: i64 = open_database(&daemon.dir)
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE channel = 'email' AND status = 'delivered'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(delivered, 0);
    smtp.accept();
    let back = Instant::now();
    let messages = smtp.wait_for(3, Duration::from_secs(6)).await;
    let waited = back.elapsed();
    let order: Vec<String> = messages
        .iter()
        .map(|message| message.recipients.join(","))
        .collect();
    assert_eq!(
        order,
        ["bob@example.com", "alice@example.com", "carol@example.com"],
        "levels 1, 2 and 3 in order (waited {waited:?})"
    );
    let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
    let events: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["data"]["event"].as_str())
        .collect();
    assert!(events.contains(&"channel_down"), "{events:?}");
    assert!(events.contains(&"channel_up"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_page_waiting_for_a_failed_relay_is_tried_at_once() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    smtp.refuse_with("421 4.3.2 Service not available");
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let mut daemon = Daemon::start(&plan(&target.url(), 1, smtp.port, &hook.url, 600, "")).await;
    target.set(503);
    // The page has failed often enough that its own backoff would keep it back for 16 s or more.
    email_tried(&daemon, 4).await;
    daemon.kill9();
    smtp.accept();
    let dir = daemon.dir.clone();
    let _daemon = Daemon::start_in(&dir).await;
    let messages = smtp.wait_for(1, Duration::from_secs(6)).await;
    assert_eq!(messages[0].recipients, ["bob@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_refused_for_now_holds_back_neither_the_others_nor_the_channel() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    // Bob's mailbox refuses mail for now; the relay itself works.
    smtp.refuse_recipient("bob@example.com", "450 4.2.1 Mailbox busy, try again later");
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let plan = plan(
        &target.url(),
        2,
        smtp.port,
        &hook.url,
        600,
        "group_window = \"0s\"",
    )
    .replace(
        "notify = [\"bob\"]",
        "notify = [\"bob\", \"alice\", \"carol\"]",
    );
    let daemon = Daemon::start(&plan).await;
    target.set(503);
    // Two alerts, each paging three people: alice and carol get both pages at once.
    let messages = smtp.wait_for(4, Duration::from_secs(10)).await;
    let mut told: Vec<String> = messages
        .iter()
        .map(|message| message.recipients.join(","))
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            "alice@example.com",
            "alice@example.com",
            "carol@example.com",
            "carol@example.com"
        ]
    );
    email_tried(&daemon, 2).await;
    let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
    let events: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["data"]["event"].as_str())
        .collect();
    assert!(
        !events.contains(&"channel_down"),
        "one refused mailbox is not a channel outage: {events:?}"
    );
    // Once the mailbox takes mail again, bob gets his pages on their own retry.
    smtp.accept_recipients();
    let messages = smtp.wait_for(6, Duration::from_secs(30)).await;
    let bob = messages
        .iter()
        .filter(|message| message.recipients == ["bob@example.com"])
        .count();
    assert_eq!(bob, 2);
}

/// Waits until some email of `daemon` has been tried at least `attempts` times.
async fn email_tried(daemon: &Daemon, attempts: i64) {
    eventually(30, async || {
        let database = open_database(&daemon.dir);
        let most: i64 = database
            .query_row(
                "SELECT MAX(attempts) FROM outbox WHERE channel = 'email'",
                [],
                |row| row.get(0),
            )
            .unwrap_or(0);
        (most >= attempts).then_some(())
    })
    .await;
}
