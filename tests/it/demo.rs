//! `golive demo`: the real binary plays the whole launch with a short `--duration` and leaves
//! behind what it promises (emails in the outbox, chat messages, the timeline, a valid plan).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use golive::core::lifecycle::{PhaseRequest, TransitionRequest};
use golive::domain::Phase;
use jiff::{SignedDuration, Timestamp};

use crate::harness::spawn_with_clock_at;
use crate::helpers::cli;
use crate::smtp::ParsedEmail;

/// The longest the demo may take on a loaded machine before the test gives up on it (it is
/// asked for 20 s; its own waits give up after 90 s each).
const DEMO_LIMIT: Duration = Duration::from_secs(600);

/// Runs `golive demo ARGS` in `dir` to the end; returns the exit code, standard output and error.
fn run_demo(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let stdout_path = dir.join("demo.stdout");
    let stderr_path = dir.join("demo.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_golive"))
        .arg("demo")
        .args(args)
        .current_dir(dir)
        .env("GOLIVE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn golive demo");
    let deadline = Instant::now() + DEMO_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the demo") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the demo did not finish within {DEMO_LIMIT:?}; it printed:\n{}",
                std::fs::read_to_string(&stdout_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )
}

fn outbox_emails(outbox: &Path) -> Vec<ParsedEmail> {
    let mut paths: Vec<_> = std::fs::read_dir(outbox)
        .unwrap_or_else(|error| panic!("outbox {}: {error}", outbox.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| ParsedEmail::parse(&std::fs::read(path).expect("read .eml")))
        .collect()
}

fn sent_to(email: &ParsedEmail, address: &str) -> bool {
    email.to.iter().any(|mailbox| mailbox.address == address)
}

#[test]
fn the_demo_plays_a_whole_launch_and_leaves_the_emails_chat_messages_and_timeline_behind() {
    let temp = tempfile::tempdir().expect("temp dir");
    let folder = temp.path().join("demo");
    let folder_arg = folder.to_string_lossy().into_owned();
    let (code, out, err) = run_demo(temp.path(), &["--duration", "20s", "--dir", &folder_arg]);
    let log = std::fs::read_to_string(folder.join("golive.log")).unwrap_or_default();
    assert_eq!(
        code, 0,
        "the demo failed\nstdout:\n{out}\nstderr:\n{err}\ngolive's log:\n{log}"
    );

    // The narrative tells every act, and where to look.
    for act in [
        "Status page: http://127.0.0.1:",
        "Planned → go/no-go",
        "refused (409)",
        "✓ `go-decision` confirmed by Henrik Brandt",
        "▶ Runbook step `maintenance-on` started by Aylin Demir",
        "Go/no-go → deploying",
        "■ Runbook step `db-migration` done (Jonas Weber)",
        "▶ Runbook step `deploy-app` started by Jonas Weber",
        "Deploying → verifying",
        "■ Runbook step `smoke-test` done (Tom Richter)",
        "ALERT #1: Checkout error rate",
        "escalated to level 2",
        "Jonas acknowledges alert #1",
        "RESOLVED",
        "Verifying → hypercare",
        "time-lapse",
        "daily report #1",
        "daily report #2",
        "Hypercare → closed",
        "final report",
        "timeline.md",
        "data/outbox",
    ] {
        assert!(out.contains(act), "the narrative lacks {act:?}:\n{out}");
    }

    // The outbox holds the escalation to level 2 (to the project manager), the acknowledgement
    // notice and the resolution, as parseable emails.
    let emails = outbox_emails(&folder.join("data").join("outbox"));
    let subjects: Vec<&str> = emails.iter().map(|email| email.subject.as_str()).collect();
    let escalation = emails
        .iter()
        .find(|email| email.subject.starts_with("[ESCALATED L2] "))
        .unwrap_or_else(|| panic!("no level-2 escalation among {subjects:#?}"));
    assert!(
        sent_to(escalation, "maria.keller@shop.example"),
        "level 2 pages the project manager: {:?}",
        escalation.to
    );
    assert!(
        escalation
            .subject
            .starts_with("[ESCALATED L2] Checkout error rate — Web shop 2.0 (demo)"),
        "{}",
        escalation.subject
    );
    // One value, for people: the scrape check's ratio in percent, against its threshold.
    let page = escalation.text.as_deref().unwrap_or("");
    let what_failed = page
        .lines()
        .find(|line| line.starts_with("What failed: "))
        .unwrap_or_else(|| panic!("no 'What failed' in {page}"));
    assert!(
        what_failed.contains(" % at opening (fails above 5 %)") && !what_failed.contains("value "),
        "{what_failed}"
    );
    assert!(
        page.lines()
            .any(|line| line.starts_with("Status page: http") && line.contains("/#alert-1")),
        "{page}"
    );
    let acknowledged: Vec<_> = emails
        .iter()
        .filter(|email| {
            email
                .subject
                .starts_with("[ACKNOWLEDGED] Checkout error rate — Web shop 2.0 (demo)")
                && email
                    .text
                    .as_deref()
                    .is_some_and(|text| text.contains("Taken by: jonas, "))
        })
        .collect();
    assert!(
        acknowledged
            .iter()
            .any(|email| sent_to(email, "aylin.demir@shop.example")),
        "the ops lead paged at level 1 is told who took it: {subjects:#?}"
    );
    let resolved: Vec<_> = emails
        .iter()
        .filter(|email| email.subject.starts_with("[RESOLVED] Checkout error rate"))
        .collect();
    for person in [
        "aylin.demir@shop.example",
        "jonas.weber@shop.example",
        "maria.keller@shop.example",
    ] {
        assert!(
            resolved.iter().any(|email| sent_to(email, person)),
            "{person} gets the resolution: {subjects:#?}"
        );
    }
    assert!(
        emails.iter().any(
            |email| email.subject.contains("action item #1 is due today")
                && sent_to(email, "jonas.weber@shop.example")
        ),
        "the time-lapse morning reminds the action item's owner: {subjects:#?}"
    );
    // Emails are dated by the demo's clock: the morning reminder is a night after the escalation,
    // though the demo took seconds.
    let date = |email: &ParsedEmail| {
        let header = email.header("Date").expect("a Date header");
        jiff::fmt::rfc2822::parse(header)
            .unwrap_or_else(|error| panic!("Date {header:?}: {error}"))
            .timestamp()
    };
    let reminder = emails
        .iter()
        .find(|email| email.subject.contains("action item #1 is due today"))
        .expect("the reminder");
    let night = date(reminder).duration_since(date(escalation));
    assert!(
        night > SignedDuration::from_hours(6),
        "the reminder is dated {:?}, the escalation {:?}",
        reminder.header("Date"),
        escalation.header("Date")
    );

    // Two daily reports (the two time-lapse mornings, on time) and one final report, to the
    // stakeholders of `[reports]`; the final report has the runbook with planned vs actual times.
    // Each recipient has a copy of their own (with their own feedback link): read the business
    // stakeholder's.
    let daily: Vec<_> = emails
        .iter()
        .filter(|email| email.subject.contains("daily report"))
        .filter(|email| sent_to(email, "henrik.brandt@shop.example"))
        .collect();
    assert_eq!(daily.len(), 2, "two daily reports: {subjects:#?}");
    for report in &daily {
        assert!(
            sent_to(report, "henrik.brandt@shop.example"),
            "{:?}",
            report.to
        );
        assert!(!report.subject.contains("late"), "{}", report.subject);
        assert_eq!(report.content_type, "multipart/alternative");
    }
    // The 9-second incident is judged proportionately: the first day is AMBER for its one alert
    // (not RED with an exhausted budget), the quiet second day GREEN; both say how much of their
    // day was probed, and the flapping health check is not said to have missed its objective.
    let daily_text = |day: &str| {
        daily
            .iter()
            .find(|email| email.subject.contains(&format!("daily report {day}")))
            .and_then(|email| email.text.clone())
            .unwrap_or_else(|| panic!("the daily report of {day}: {subjects:#?}"))
    };
    // The days the demo's reports cover follow the day it runs (its go-live is shortly after
    // the start), so they are read from the subjects rather than written down here.
    let mut days: Vec<String> = daily
        .iter()
        .filter_map(|email| email.subject.split("daily report ").nth(1))
        .filter_map(|rest| rest.get(..10))
        .map(str::to_owned)
        .collect();
    days.sort();
    days.dedup();
    assert_eq!(days.len(), 2, "two days reported: {subjects:#?}");
    let first_day = daily_text(&days[0]);
    assert!(
        daily[0].subject.contains("AMBER") || daily[1].subject.contains("AMBER"),
        "{subjects:#?}"
    );
    for expected in [
        "Status: AMBER. 1 alert: Checkout error rate (critical, resolved after",
        "Data: probed ",
        " of 24 h.",
        "(a flap: the check never failed)",
    ] {
        assert!(
            first_day.contains(expected),
            "the first daily report lacks {expected:?}:\n{first_day}"
        );
    }
    for wrong in ["MISSED", "exhausted", "(s)"] {
        assert!(
            !first_day.contains(wrong),
            "the first daily report says {wrong:?}:\n{first_day}"
        );
    }
    let second_day = daily_text(&days[1]);
    assert!(
        second_day.contains("Status: GREEN.") && second_day.contains("Data: probed "),
        "{second_day}"
    );
    let finals: Vec<_> = emails
        .iter()
        .filter(|email| email.subject.contains("final launch report"))
        .filter(|email| sent_to(email, "henrik.brandt@shop.example"))
        .collect();
    assert_eq!(finals.len(), 1, "one final report: {subjects:#?}");
    let final_text = finals[0].text.as_deref().unwrap_or("");
    for expected in [
        "closed",
        "Status: AMBER. 1 alert: Checkout error rate (critical, resolved after",
        "Data: probed ",
        "== Runbook",
        "db-migration",
        "Checkout error rate",
    ] {
        assert!(
            final_text.contains(expected),
            "the final report lacks {expected:?}:\n{final_text}"
        );
    }
    // The final report is the post-mortem: it opens with the summary, then the incident timeline
    // of the demo's one incident (opened, paged by name, resolved), before the appendix.
    let first_section = final_text.find("== ").map(|at| &final_text[at..]);
    assert!(
        first_section.is_some_and(|rest| rest.starts_with("== Summary and impact ==")),
        "the final report does not open with the summary:\n{final_text}"
    );
    // The failing time in all agrees with the check's own (the 9 seconds are not lost to the
    // period starting mid-minute).
    assert!(
        final_text.contains("Failing: Checks failed by their thresholds for ")
            && !final_text.contains("for 0 s in all"),
        "{final_text}"
    );
    let timeline = final_text
        .split("== Incident timeline ==")
        .nth(1)
        .and_then(|rest| rest.split("== What went well").next())
        .unwrap_or_else(|| panic!("the final report has no incident timeline:\n{final_text}"));
    for expected in [
        "Checkout error rate (critical)",
        "Opened: ",
        "Paged ",
        "Resolved after ",
    ] {
        assert!(
            timeline.contains(expected),
            "the incident timeline lacks {expected:?}:\n{timeline}"
        );
    }

    // One stakeholder update, in plain words, to the business and support leads.
    assert!(
        emails.iter().any(|email| email.subject
            == "[UPDATE] Web shop 2.0 (demo): live — the new version is being checked"
            && email
                .text
                .as_deref()
                .is_some_and(|text| text.contains("What it means for you: "))),
        "the stakeholder update is in the outbox: {subjects:#?}"
    );

    // The demo service's webhook receiver got the chat messages.
    let webhooks = std::fs::read_to_string(folder.join("webhooks.log")).expect("webhooks.log");
    let messages: Vec<serde_json::Value> = webhooks
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert!(
        messages.iter().any(|message| message["body"]
            .as_str()
            .is_some_and(|body| body.contains("*[ESCALATED L2] "))),
        "the team chat got the escalation: {webhooks}"
    );
    assert!(
        messages.iter().any(|message| message["body"]
            .as_str()
            .is_some_and(|body| body.contains("*[RESOLVED] "))),
        "the team chat got the resolution: {webhooks}"
    );
    // The demo shop's PagerDuty-shaped pager took an incident for the alert and its resolution
    // (it refuses what PagerDuty would refuse, so a logged event is a valid one).
    let pager_events: Vec<serde_json::Value> = messages
        .iter()
        .filter_map(|message| message["pagerduty"].as_str())
        .map(|body| serde_json::from_str(body).expect("a PagerDuty event"))
        .collect();
    let actions: Vec<&str> = pager_events
        .iter()
        .filter_map(|event| event["event_action"].as_str())
        .collect();
    assert!(
        actions.first() == Some(&"trigger") && actions.contains(&"resolve"),
        "the pager got the incident and its resolution: {webhooks}"
    );
    assert!(
        pager_events
            .iter()
            .all(|event| event["dedup_key"] == pager_events[0]["dedup_key"]),
        "one incident for the one alert: {webhooks}"
    );

    // The support lead's feedback came through the link in her report, under her name; the
    // review meeting's invitation went out with a calendar request when the launch closed.
    assert!(
        final_text.contains("3 tickets about failed checkouts")
            && final_text.contains("Sofia Lange"),
        "{final_text}"
    );
    let invitation = emails
        .iter()
        .find(|email| email.subject.starts_with("Invitation: Launch review: "))
        .unwrap_or_else(|| panic!("no review invitation: {subjects:#?}"));
    assert!(
        invitation
            .parts
            .iter()
            .any(|part| part.content_type.starts_with("text/calendar")),
        "{:?}",
        invitation.parts
    );
    // The timeline export has the whole launch, closed by golive at the end of hypercare.
    let timeline = std::fs::read_to_string(folder.join("timeline.md")).expect("timeline.md");
    assert!(
        timeline.contains("# Launch timeline: Web shop 2.0 (demo)"),
        "{timeline}"
    );
    assert!(
        timeline.contains("hypercare → closed | golive"),
        "{timeline}"
    );
    // ... and its runbook, every step done, with who did it.
    let runbook = timeline
        .split("## Runbook")
        .nth(1)
        .unwrap_or_else(|| panic!("no runbook section:\n{timeline}"));
    for step in ["maintenance-on", "db-migration", "deploy-app", "smoke-test"] {
        let row = runbook
            .lines()
            .find(|line| {
                line.starts_with(&format!("| {step} ")) || line.contains(&format!("`{step}`"))
            })
            .unwrap_or_else(|| panic!("no row for {step}:\n{runbook}"));
        assert!(row.contains("done"), "{step} is not done: {row}");
    }

    // The plan it leaves behind is an ordinary, valid plan.
    let (code, out, err) = cli(&folder, &["check", "demo.toml"]);
    assert_eq!(code, 0, "golive check demo.toml: {out}{err}");
}

#[test]
fn the_demo_refuses_a_folder_that_is_not_empty() {
    let temp = tempfile::tempdir().expect("temp dir");
    std::fs::write(temp.path().join("notes.txt"), "mine").expect("write");
    let folder = temp.path().to_string_lossy().into_owned();
    let (code, _, err) = run_demo(temp.path(), &["--duration", "20s", "--dir", &folder]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(temp.path().join("notes.txt")).expect("still there"),
        "mine"
    );
}

/// A launch with nothing to confirm and one day of hypercare.
const ONE_DAY_PLAN: &str = r#"
[launch]
name = "Time-lapse"
timezone = "UTC"
go_live = 2030-01-01T20:00:00
hypercare_days = 1
data_dir = "data"

[server]
listen = "127.0.0.1:0"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_time_lapse_jump_a_tick_makes_the_engine_close_hypercare_at_once() {
    let start: Timestamp = "2030-01-01T20:00:00Z".parse().expect("timestamp");
    let golive = spawn_with_clock_at(ONE_DAY_PLAN, start).await;
    for _ in 0..4 {
        golive
            .engine
            .transition(TransitionRequest {
                target: PhaseRequest::Advance,
                force: false,
                reason: None,
                author: "test".to_string(),
                run_id: None,
            })
            .await
            .expect("advance");
    }
    assert_eq!(golive.engine.snapshot().phase(), Phase::Hypercare);

    // The engine sleeps towards the end of hypercare, a day away on this clock; after the jump
    // over that day, one tick closes the launch without waiting out that sleep.
    let day = SignedDuration::from_hours(24);
    golive.advance(day - SignedDuration::from_secs(1)).await;
    assert_eq!(
        golive.engine.snapshot().phase(),
        Phase::Hypercare,
        "not a second early"
    );
    golive.advance(SignedDuration::from_secs(2)).await;
    assert_eq!(golive.engine.snapshot().phase(), Phase::Closed);
    golive.stop().await;
}

/// `golive demo` from a checkout makes `golive-demo`, `golive-demo-2`... in the current folder:
/// `git status` must not list them.
#[test]
fn the_demo_folders_are_ignored_by_git_in_a_checkout() {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !checkout.join(".git").exists() {
        return;
    }
    for path in [
        "golive-demo/plan.toml",
        "golive-demo-2/golive.db",
        "golive-demo-17/outbox/a.eml",
    ] {
        let ignored = Command::new("git")
            .args(["check-ignore", "--quiet", "--no-index", path])
            .current_dir(checkout)
            .status()
            .expect("run git");
        assert!(ignored.success(), "git would show {path}");
    }
}
