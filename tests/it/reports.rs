//! Daily and final reports end to end: the real daemon sends them at the plan's local time through
//! a real SMTP server (aiosmtpd), a report missed while the daemon was down goes out once, late,
//! and never again after another restart, the final report goes out once when the launch closes,
//! and `golive report send`/`preview` work through the daemon and on a stopped daemon's store.

use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon, cli, open_database};
use crate::smtp::{ReceivedMessage, SmtpOptions, SmtpServer};

/// A fixed-offset zone in which it is about noon now, so a send time a few seconds or minutes
/// away never crosses midnight.
fn noon_zone() -> (String, jiff::tz::TimeZone) {
    let hour = i64::from(
        Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .hour(),
    );
    let shift = 12 - hour;
    // Etc/GMT-N is N hours *ahead* of UTC.
    let name = match shift {
        0 => "Etc/GMT".to_string(),
        n if n > 0 => format!("Etc/GMT-{n}"),
        n => format!("Etc/GMT+{}", -n),
    };
    let zone = jiff::tz::TimeZone::get(&name).expect("zone");
    (name, zone)
}

/// The local time of day `offset` from now in `zone`, `HH:MM:SS`.
fn local_time(zone: &jiff::tz::TimeZone, offset: SignedDuration) -> String {
    (Timestamp::now() + offset)
        .to_zoned_datetime(zone.clone())
        .strftime("%H:%M:%S")
        .to_string()
}

fn report_plan(zone: &str, smtp_port: u16, time: &str) -> String {
    let base = BASE_PLAN.replace(
        "timezone = \"Europe/Berlin\"",
        &format!("timezone = \"{zone}\""),
    );
    format!(
        r#"{base}
[[checks]]
id = "web"
name = "Shop front page"
kind = "tcp"
address = "127.0.0.1:9"
interval = "1s"
phases = ["hypercare"]

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
time = "{time}"
to = ["alice", "stakeholders@test.example"]
objectives = {{ web = 99.5 }}
"#
    )
}

/// Moves the launch to hypercare, overriding the gates.
async fn to_hypercare(daemon: &Daemon) {
    for to in ["go_no_go", "deploying", "verifying", "hypercare"] {
        let (status, body) = daemon
            .post(
                "/api/v1/phase",
                json!({"to": to, "force": true, "reason": "report test"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn reports(daemon: &Daemon) -> Vec<Value> {
    let (status, body) = daemon.get("/api/v1/reports").await;
    assert_eq!(status, 200, "{body}");
    body["reports"].as_array().cloned().unwrap_or_default()
}

/// A report arrives as one copy per recipient (each with its own feedback link); checks the
/// copies of one report and each like `assert_report_email_part`.
fn assert_report_email(messages: &[ReceivedMessage], subject_part: &str) {
    let mut recipients: Vec<String> = messages
        .iter()
        .flat_map(|message| message.recipients.clone())
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        vec!["alice@example.com", "stakeholders@test.example"]
    );
    for message in messages {
        assert_eq!(message.recipients.len(), 1, "a personal copy");
        assert_report_email_part(message, subject_part);
    }
}

fn assert_report_email_part(message: &ReceivedMessage, subject_part: &str) {
    let email = &message.email;
    assert!(email.subject.contains(subject_part), "{}", email.subject);
    assert_eq!(email.content_type, "multipart/alternative");
    let text = email.text.as_deref().expect("a text part");
    let html = email.html.as_deref().expect("an HTML part");
    assert!(text.contains("Test shop"), "{text}");
    assert!(html.contains("<table"), "{html}");
    // Charts are HTML tables: nothing a mail client would block or refuse to run.
    // The one link is the reader's feedback link.
    let (report_html, feedback) = html
        .split_once("<div id=\"feedback\"")
        .expect("a feedback link");
    assert!(feedback.contains("/feedback/"), "{feedback}");
    for banned in ["<img", "<script", "<svg", "http://", "https://"] {
        assert!(!report_html.contains(banned), "the HTML contains {banned}");
    }
    assert!(
        email
            .parts
            .iter()
            .all(|part| !part.content_type.starts_with("image/"))
    );
}

#[tokio::test]
async fn the_daily_report_arrives_at_the_local_send_time_with_text_and_html() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let (zone_name, zone) = noon_zone();
    let time = local_time(&zone, SignedDuration::from_secs(6));
    let daemon = Daemon::start(&report_plan(&zone_name, smtp.port, &time)).await;
    to_hypercare(&daemon).await;

    let messages = smtp.wait_for(2, Duration::from_secs(30)).await;
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();
    assert_report_email(&messages, &format!("daily report {today}"));
    let text = messages[0].email.text.clone().unwrap_or_default();
    assert!(text.contains("Shop front page [web, tcp]"), "{text}");
    assert!(text.contains("objective 99.50 %"), "{text}");

    let recorded = reports(&daemon).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["kind"], "daily");
    assert_eq!(recorded[0]["trigger"], "schedule");
    assert_eq!(recorded[0]["late"], false);
    assert_eq!(recorded[0]["day"], today.to_string());
    assert_eq!(
        recorded[0]["message_id"].as_str(),
        messages[0].email.message_id.as_deref()
    );
    let (_, metrics) = daemon.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"golive_reports_total{kind="daily",result="sent"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"golive_check_availability_objective{check="web"} 0.995"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"golive_report_last_timestamp_seconds{kind="daily"}"#));
}

/// Pretends the launch entered hypercare two hours ago (the daemon is stopped).
fn hypercare_since_two_hours_ago(dir: &Path) {
    let since = (Timestamp::now() - SignedDuration::from_hours(2)).as_millisecond();
    let database = open_database(dir);
    database
        .execute("UPDATE launch_state SET phase_since = ?1", [since])
        .expect("update phase_since");
}

#[tokio::test]
async fn a_report_missed_while_down_is_sent_once_late_and_never_again_after_a_restart() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let (zone_name, zone) = noon_zone();
    // First run: the send time is far away; the launch reaches hypercare.
    let later = local_time(&zone, SignedDuration::from_hours(3));
    let mut daemon = Daemon::start(&report_plan(&zone_name, smtp.port, &later)).await;
    to_hypercare(&daemon).await;
    daemon.terminate();
    let dir = daemon.dir.clone();

    // While it was down, today's send time (30 minutes ago) passed in hypercare.
    hypercare_since_two_hours_ago(&dir);
    let missed = local_time(&zone, SignedDuration::from_mins(-30));
    std::fs::write(
        dir.join("plan.toml"),
        report_plan(&zone_name, smtp.port, &missed),
    )
    .unwrap();
    let mut restarted = Daemon::start_in(&dir).await;
    let messages = smtp.wait_for(2, Duration::from_secs(30)).await;
    assert_report_email(&messages, "(late)");
    let recorded = reports(&restarted).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["late"], true);
    restarted.terminate();

    // Another restart: the day is recorded, so nothing more goes out. A command the engine
    // answers proves it has evaluated the schedule since starting.
    let again = Daemon::start_in(&dir).await;
    let (status, _) = again
        .post(
            "/api/v1/log",
            json!({"kind": "note", "text": "after restart"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(reports(&again).await.len(), 1);
    let (_, metrics) = again.get_text("/metrics").await;
    assert!(!metrics.contains(r#"golive_reports_total{kind="daily",result="sent"} 1"#));
    assert_eq!(smtp.messages().len(), 2);
    drop(daemon);
}

#[tokio::test]
async fn the_final_report_goes_out_once_when_the_launch_closes() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let (zone_name, zone) = noon_zone();
    let later = local_time(&zone, SignedDuration::from_hours(3));
    let mut daemon = Daemon::start(&report_plan(&zone_name, smtp.port, &later)).await;
    to_hypercare(&daemon).await;
    let (status, _) = daemon
        .post(
            "/api/v1/log",
            json!({"kind": "lesson", "text": "Rehearse the rollback"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = daemon.post("/api/v1/phase", json!({"to": "closed"})).await;
    assert_eq!(status, 200, "{body}");

    let messages = smtp.wait_for(2, Duration::from_secs(30)).await;
    assert_report_email(&messages, "final launch report — closed");
    let text = messages[0].email.text.clone().unwrap_or_default();
    assert!(text.contains("Rehearse the rollback"), "{text}");
    assert!(text.contains("hypercare -> closed"), "{text}");

    daemon.terminate();
    let dir = daemon.dir.clone();
    let again = Daemon::start_in(&dir).await;
    let (status, _) = again
        .post(
            "/api/v1/log",
            json!({"kind": "note", "text": "after restart"}),
        )
        .await;
    assert_eq!(status, 201);
    let recorded = reports(&again).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["kind"], "final");
    assert_eq!(smtp.messages().len(), 2);
    drop(daemon);
}

#[tokio::test]
async fn report_send_goes_through_the_daemon_and_preview_reads_a_stopped_daemons_store() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let (zone_name, zone) = noon_zone();
    let later = local_time(&zone, SignedDuration::from_hours(3));
    let mut daemon = Daemon::start(&report_plan(&zone_name, smtp.port, &later)).await;
    to_hypercare(&daemon).await;
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();

    let (code, out, err) = cli(&daemon.dir, &["report", "send", "--plan", "plan.toml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("daily report for"), "{out}");
    let messages = smtp.wait_for(2, Duration::from_secs(30)).await;
    assert_report_email(&messages, "(so far)");
    let recorded = reports(&daemon).await;
    assert_eq!(recorded[0]["trigger"], "manual");

    // A bad date is refused with the field named.
    let (status, body) = daemon
        .post("/api/v1/reports/send", json!({"date": "tomorrow"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "date");

    // Preview beside the running daemon, then on the stopped daemon's data directory.
    let (code, out, err) = cli(
        &daemon.dir,
        &[
            "report",
            "preview",
            "--plan",
            "plan.toml",
            "--format",
            "html",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("<h1"), "{out}");
    daemon.terminate();
    let date = today.to_string();
    let (code, out, err) = cli(
        &daemon.dir,
        &[
            "report",
            "preview",
            "--plan",
            "plan.toml",
            "--date",
            &date,
            "--format",
            "text",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("daily report for {date}")), "{out}");
    let (code, out, err) = cli(
        &daemon.dir,
        &[
            "report",
            "preview",
            "--plan",
            "plan.toml",
            "--format",
            "eml",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let email = crate::smtp::ParsedEmail::parse(out.as_bytes());
    assert_eq!(email.content_type, "multipart/alternative");
    assert!(email.text.is_some() && email.html.is_some());
    let (code, out, err) = cli(
        &daemon.dir,
        &["report", "preview", "--plan", "plan.toml", "--final"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("final launch report: in progress (hypercare)"),
        "{out}"
    );
    // Without a plan, preview says what it needs.
    let (code, _, err) = cli(&daemon.dir, &["report", "preview"]);
    assert_eq!(code, 64);
    assert!(err.contains("--plan"), "{err}");
    // Nothing was sent by previewing.
    assert_eq!(smtp.messages().len(), 2);
}

#[tokio::test]
async fn sending_a_report_without_a_reports_section_is_refused_with_how_to_add_one() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (status, body) = daemon
        .post("/api/v1/reports/send", json!({"final": true}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|error| error.contains("no [reports] section")),
        "{body}"
    );
}

/// The reviewed HTML reports of the seeded store (`tests/snapshots/reports/`, written by the unit
/// tests) in headless Chromium at desktop and phone width: nothing is wider than a 390 px phone
/// (wide tables scroll inside their own box), the headline is readable whole; screenshots go to
/// `target/test-artifacts/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_reports_fit_a_phone_screen_and_a_desktop_one() {
    use crate::browser::{Browser, artifacts};
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/reports");
    let browser = Browser::start().await;
    let directory = artifacts();
    for name in ["daily", "final"] {
        let path = snapshots.join(format!("{name}.html"));
        assert!(path.exists(), "{} is missing", path.display());
        browser
            .navigate(&format!("file://{}", path.display()))
            .await;
        for (width, label) in [(390, "phone"), (1280, "desktop")] {
            browser.set_size(width, 1800).await;
            let fits = browser
                .script(
                    "return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, \
                     headline: document.querySelector('h1').getBoundingClientRect().right }",
                )
                .await;
            let scroll = fits["scroll"].as_f64().unwrap_or(f64::MAX);
            let inner = fits["inner"].as_f64().expect("the window's width");
            let headline = fits["headline"].as_f64().unwrap_or(f64::MAX);
            assert!(
                inner <= f64::from(width),
                "the window is {inner} px wide, asked for {width}"
            );
            assert!(
                scroll <= inner,
                "the {name} report overflows {inner} px ({label}): {scroll} px wide"
            );
            assert!(
                headline <= inner,
                "the {name} report's headline is cut off at {inner} px ({label}): it ends at {headline} px"
            );
            browser
                .screenshot(&directory.join(format!("report-{name}-{label}.png")))
                .await;
        }
    }
    browser.close().await;
}
