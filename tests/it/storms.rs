//! Alert storms against a real SMTP server (aiosmtpd) and a real chat webhook receiver: fifty
//! checks that fail together and recover together reach each person as a couple of compact
//! messages each way, not fifty; the storm is acknowledged with one link, one API call or one CLI
//! command.

use serde_json::{Value, json};

use crate::alerting::Receiver;
use crate::helpers::{BASE_PLAN, Daemon, cli, eventually};
use crate::monitoring::Switchable;
use crate::plans::{channels, http_check, page_policy};
use crate::smtp::{ReceivedMessage, SmtpOptions, SmtpServer};

/// How many checks fail together in a storm.
const STORM: usize = 50;

/// `count` critical http checks against one target; level 1 pages bob and alice by email and the
/// chat channel, level 2 (carol) only after half an hour, so a storm is level 1 only.
fn storm_plan(count: usize, target: &str, smtp_port: u16, hook: &str) -> String {
    let checks: String = (1..=count)
        .map(|n| {
            http_check(&format!("page-{n:02}"), target)
                .named(&format!("Shop page {n:02}"))
                .in_phases(&["planned"])
                .to_string()
        })
        .collect();
    format!(
        "{BASE_PLAN}{checks}{}{}",
        channels(smtp_port, hook, "2s"),
        page_policy()
            .level("0s", &["bob", "alice"], &["email", "chat"])
            .level("30m", &["carol"], &["email"])
            .repeat("1h")
            .alerting(r#"group_window = "4s""#),
    )
}

/// A storm under way: the daemon, its mail and chat, and the target all checks probe.
struct Storm {
    count: usize,
    smtp: SmtpServer,
    hook: Receiver,
    target: Switchable,
    daemon: Daemon,
}

impl Storm {
    /// Starts the daemon with `count` checks, every one healthy.
    async fn start(count: usize) -> Storm {
        let smtp = SmtpServer::start(SmtpOptions::plain()).await;
        let hook = Receiver::start().await;
        let target = Switchable::start(200).await;
        let daemon = Daemon::start(&storm_plan(count, &target.url(), smtp.port, &hook.url)).await;
        eventually(20, async || {
            let (_, body) = daemon.get("/api/v1/checks").await;
            let checks = body["checks"].as_array()?;
            (checks.len() == count && checks.iter().all(|check| check["health"] == "healthy"))
                .then_some(())
        })
        .await;
        Storm {
            count,
            smtp,
            hook,
            target,
            daemon,
        }
    }

    /// Fails every check at once and waits until every alert is open, level 1 is told and every
    /// notification of it is out.
    async fn fail_all(&self) {
        self.target.set(503);
        eventually(30, async || {
            let alerts = self.open_alerts().await;
            (alerts.len() == self.count && alerts.iter().all(|alert| alert["level"] == 1))
                .then_some(())
        })
        .await;
        self.settle("[critical]", self.count).await;
    }

    /// Lets every check recover and waits until every alert is resolved and every resolution is
    /// out.
    async fn recover_all(&self) {
        self.target.set(200);
        eventually(30, async || {
            self.open_alerts().await.is_empty().then_some(())
        })
        .await;
        self.settle("[resolved]", self.count).await;
    }

    /// Waits until bob and alice each heard about `count` alerts in emails whose subject says
    /// `what` (its state tag, e.g. `[resolved]`, compared without case), and the outbox is empty. Those emails prove the dispatcher looked at the outbox
    /// after the change was written, so an empty outbox then means everything it caused is out.
    async fn settle(&self, what: &str, count: usize) {
        eventually(30, async || {
            let told = PEOPLE.iter().all(|person| {
                let mut ids: Vec<i64> = self
                    .emails_for(person)
                    .iter()
                    .filter(|message| message.email.subject.to_lowercase().contains(what))
                    .flat_map(alert_ids)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids.len() >= count
            });
            (told && self.outbox_pending().await == Some(0.0)).then_some(())
        })
        .await;
    }

    async fn open_alerts(&self) -> Vec<Value> {
        let (_, body) = self.daemon.get("/api/v1/alerts?limit=1000").await;
        body["alerts"].as_array().cloned().unwrap_or_default()
    }

    async fn outbox_pending(&self) -> Option<f64> {
        let (_, text) = self.daemon.get_text("/metrics").await;
        text.lines()
            .find_map(|line| line.strip_prefix("golive_outbox_pending "))
            .and_then(|value| value.trim().parse().ok())
    }

    /// The emails `address` got so far, oldest first.
    fn emails_for(&self, address: &str) -> Vec<ReceivedMessage> {
        self.smtp
            .messages()
            .into_iter()
            .filter(|message| is_for(message, address))
            .collect()
    }
}

const PEOPLE: [&str; 2] = ["bob@example.com", "alice@example.com"];

fn is_for(message: &ReceivedMessage, address: &str) -> bool {
    message.recipients.iter().any(|known| known == address)
}

fn subjects(messages: &[ReceivedMessage]) -> Vec<&str> {
    messages
        .iter()
        .map(|message| message.email.subject.as_str())
        .collect()
}

fn text(message: &ReceivedMessage) -> &str {
    message.email.text.as_deref().unwrap_or("")
}

/// The alerts an email is about: the lines of a grouped one (`- #12 FAILING ...`), or the
/// `Alert: #12 (...)` fact of a single one.
fn alert_ids(message: &ReceivedMessage) -> Vec<i64> {
    let number = |rest: &str| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|digits| digits.parse().ok())
    };
    let grouped: Vec<i64> = text(message)
        .lines()
        .filter_map(|line| line.strip_prefix("- #").and_then(number))
        .collect();
    if !grouped.is_empty() {
        return grouped;
    }
    text(message)
        .lines()
        .filter_map(|line| line.strip_prefix("Alert: #").and_then(number))
        .collect()
}

/// Every alert of the storm is in exactly one of `messages`.
fn each_alert_once(messages: &[ReceivedMessage], count: usize, what: &str) {
    let mut ids: Vec<i64> = messages.iter().flat_map(alert_ids).collect();
    ids.sort_unstable();
    let expected: Vec<i64> = (1..=count as i64).collect();
    assert_eq!(ids, expected, "{what}: {:?}", subjects(messages));
}

/// The email of `messages` that lists the most alerts.
fn largest(messages: &[ReceivedMessage]) -> &ReceivedMessage {
    messages
        .iter()
        .max_by_key(|message| alert_ids(message).len())
        .expect("an email")
}

/// A grouped email is short: one header, a line per alert, the details one click away, and (for
/// open alerts) exactly one link that acknowledges them all, in both parts.
fn assert_compact(message: &ReceivedMessage, open: bool) {
    let text = text(message);
    let html = message.email.html.as_deref().unwrap_or("");
    assert!(
        text.len() < 8 * 1024,
        "the grouped email's text is {} bytes: {text}",
        text.len()
    );
    assert!(
        html.len() < 16 * 1024,
        "the grouped email's HTML is {} bytes: {html}",
        html.len()
    );
    let links = usize::from(open);
    assert_eq!(text.matches("/ack/").count(), links, "{text}");
    assert_eq!(html.matches("/ack/").count(), links, "{html}");
    for line in text.lines().filter(|line| line.starts_with("- #")) {
        assert!(line.len() < 200, "one short line per alert: {line}");
        assert!(
            line.contains("Shop page ") && line.contains("status 503"),
            "the line names the check and what failed: {line}"
        );
        assert!(
            line.contains("http://127.0.0.1:"),
            "the details are one click away: {line}"
        );
    }
}

/// The one acknowledge-all link of an email.
fn ack_all_url(message: &ReceivedMessage) -> String {
    text(message)
        .split_whitespace()
        .find(|word| word.contains("/ack/"))
        .expect("an acknowledge-all link")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_fifty_alerts_opens_and_resolves_in_at_most_four_compact_messages_per_person() {
    let storm = Storm::start(STORM).await;

    storm.fail_all().await;
    let opening = PEOPLE.map(|person| storm.emails_for(person));
    let chat_opening = storm.hook.texts();
    for (person, emails) in PEOPLE.iter().zip(&opening) {
        assert!(
            (1..=2).contains(&emails.len()),
            "{person} got {} emails for the storm's opening: {:?}",
            emails.len(),
            subjects(emails)
        );
        each_alert_once(emails, STORM, person);
        assert_compact(largest(emails), true);
    }
    let grouped = largest(&opening[0]);
    assert!(
        grouped.email.subject.starts_with("[CRITICAL] ")
            && grouped
                .email
                .subject
                .ends_with(" alerts failing — Test shop"),
        "{}",
        grouped.email.subject
    );
    assert!(
        (1..=2).contains(&chat_opening.len()),
        "{} chat posts for the storm's opening: {chat_opening:?}",
        chat_opening.len()
    );
    let chat_lines = chat_opening
        .iter()
        .map(|post| post.lines().filter(|line| line.starts_with("• #")).count())
        .max()
        .unwrap_or(0);
    assert!(
        chat_lines >= STORM - 1,
        "one line per alert in the chat: {chat_opening:?}"
    );

    storm.recover_all().await;
    for (person, before) in PEOPLE.iter().zip(&opening) {
        let all = storm.emails_for(person);
        let resolution = &all[before.len()..];
        assert!(
            (1..=2).contains(&resolution.len()),
            "{person} got {} emails for the storm's resolution: {:?}",
            resolution.len(),
            subjects(resolution)
        );
        assert!(
            all.len() <= 4,
            "{person} got {} emails for one storm",
            all.len()
        );
        each_alert_once(resolution, STORM, person);
        let grouped = largest(resolution);
        assert_compact(grouped, false);
        assert!(
            grouped.email.subject.starts_with("[RESOLVED] ")
                && grouped.email.subject.ends_with(" alerts — Test shop"),
            "{}",
            grouped.email.subject
        );
    }
    let chat_resolution = &storm.hook.texts()[chat_opening.len()..];
    assert!(
        (1..=2).contains(&chat_resolution.len()),
        "{} chat posts for the storm's resolution: {chat_resolution:?}",
        chat_resolution.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_link_acknowledges_every_open_alert_of_the_storm_once_and_opening_it_changes_nothing() {
    let storm = Storm::start(STORM).await;
    storm.fail_all().await;
    let url = ack_all_url(largest(&storm.emails_for("bob@example.com")));
    assert!(
        url.starts_with(&format!("{}/ack/", storm.daemon.url)),
        "{url}"
    );

    // Opening the link (a mail scanner prefetching it) shows what it will do and does nothing.
    let response = storm.daemon.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("Acknowledge all {STORM}</button>")),
        "{page}"
    );
    assert_eq!(page.matches("<li>#").count(), STORM, "{page}");
    let alerts = storm.open_alerts().await;
    assert!(
        alerts.iter().all(|alert| alert["acknowledged"].is_null()),
        "opening the page acknowledged something"
    );

    // Its button acknowledges them all, as the person the link was sent to.
    let before = storm.emails_for("alice@example.com").len();
    let response = storm.daemon.http.post(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("{STORM} alerts acknowledged by Bob Berg")),
        "{page}"
    );
    let alerts = storm.open_alerts().await;
    assert_eq!(alerts.len(), STORM);
    assert!(
        alerts
            .iter()
            .all(|alert| alert["acknowledged"]["by"] == "Bob Berg"),
        "{alerts:?}"
    );

    // Once: the link is used up.
    let response = storm.daemon.http.post(&url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("used already"));

    // Each acknowledgement is logged on its own; everyone told hears of them in a message or two.
    let (_, log) = storm.daemon.get("/api/v1/log?kind=alert&limit=500").await;
    let logged = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            entry["text"]
                .as_str()
                .is_some_and(|text| text.contains("acknowledged by Bob Berg (email link)"))
        })
        .count();
    assert_eq!(logged, STORM);
    storm.settle("[acknowledged]", STORM).await;
    let told = &storm.emails_for("alice@example.com")[before..];
    assert!(
        (1..=2).contains(&told.len()),
        "alice got {} emails about the acknowledgements: {:?}",
        told.len(),
        subjects(told)
    );
    each_alert_once(told, STORM, "alice");
    assert_compact(largest(told), false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_alerts_are_acknowledged_with_one_api_call_or_one_cli_command() {
    let storm = Storm::start(6).await;
    storm.fail_all().await;

    // The API: which were acknowledged now, which not open.
    let (status, body) = storm
        .daemon
        .post(
            "/api/v1/alerts/ack",
            json!({"ids": [1, 2, 3, 3, 999], "note": "one cause: the load balancer", "author": "Alice Adler"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ids = |key: &str| -> Vec<i64> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| alert["id"].as_i64().or(alert.as_i64()).unwrap())
            .collect()
    };
    assert_eq!(ids("acknowledged"), [1, 2, 3]);
    assert_eq!(ids("not_open"), [999]);
    assert!(ids("already_acknowledged").is_empty());
    assert_eq!(body["acknowledged"][0]["acknowledged"]["by"], "Alice Adler");
    let (_, log) = storm.daemon.get("/api/v1/log?kind=alert&limit=500").await;
    let noted = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            entry["text"].as_str().is_some_and(|text| {
                text.contains("acknowledged by Alice Adler (api)")
                    && text.ends_with("one cause: the load balancer")
            })
        })
        .count();
    assert_eq!(noted, 3, "each acknowledgement is logged with the note");

    // Bad input names the field; no token, no acknowledgement.
    for (body, field) in [
        (json!({"ids": []}), "ids"),
        (json!({}), "ids"),
        (json!({"ids": ["#4"]}), "ids[0]"),
        (json!({"ids": [0]}), "ids"),
        (json!({"ids": [4], "whom": "x"}), "whom"),
    ] {
        let (status, answer) = storm.daemon.post("/api/v1/alerts/ack", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    let (status, _) = storm
        .daemon
        .send(
            reqwest::Method::POST,
            "/api/v1/alerts/ack",
            json!({"ids": [4]}),
            None,
        )
        .await;
    assert_eq!(status, 401);

    // The CLI: several ids at once, `#` optional.
    let dir = storm.daemon.dir.clone();
    let server = storm.daemon.url.clone();
    let run = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--server", server.as_str()]);
        cli(&dir, &full)
    };
    let (code, out, err) = run(&["ack", "4", "#5", "--author", "Bob Berg"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "2 alerts acknowledged by Bob Berg (#4, #5); escalation stopped.\n"
    );
    let (code, out, err) = run(&["ack", "6", "1", "998", "--author", "Bob Berg"]);
    assert_eq!(code, 1, "an alert that is not open is an error: {out}");
    assert_eq!(
        out,
        "Alert #6 acknowledged by Bob Berg; escalation stopped.\n\
         Alert #1 was acknowledged already by Alice Adler.\n"
    );
    assert!(
        err.contains("not open (resolved, or no such alert): #998"),
        "{err}"
    );
    let (code, _, err) = run(&["ack", "four"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`four` is not an alert number"), "{err}");

    let alerts = storm.open_alerts().await;
    assert!(
        alerts.iter().all(|alert| !alert["acknowledged"].is_null()),
        "{alerts:?}"
    );
    // Everyone told hears of the acknowledgements in few messages: three calls, at most two
    // messages each.
    storm.settle("[acknowledged]", 6).await;
    let told: Vec<ReceivedMessage> = storm
        .emails_for("bob@example.com")
        .into_iter()
        .filter(|message| message.email.subject.starts_with("[ACKNOWLEDGED]"))
        .collect();
    assert!(told.len() <= 6, "{:?}", subjects(&told));
    each_alert_once(&told, 6, "bob");
}
