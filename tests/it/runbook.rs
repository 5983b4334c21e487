//! The deployment runbook on the call: steps in dependency order (409 with the blockers, or forced
//! with a reason), every change in the log with who and when, lateness warnings to the owner and
//! then the project manager through a real SMTP server and a chat webhook (once per step and
//! level, also across a restart), the rollback procedure that applies after a failed step, the
//! CLI table, metrics and the timeline.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::alerting::Receiver;
use crate::helpers::{BASE_PLAN, Daemon, cli, eventually};
use crate::smtp::{ReceivedMessage, SmtpOptions, SmtpServer};

/// Three steps of `deploying` after a go-live in 2030 (so nothing is late): `prepare` (verified
/// by `db`, a check of a closed port), then `migrate` (a rollback point), then `deploy`.
const STEPS: &str = r#"
[[checks]]
id = "db"
kind = "tcp"
address = "127.0.0.1:1"
interval = "200ms"
timeout = "150ms"
failure_threshold = 1
phases = ["planned", "go_no_go", "deploying", "verifying", "hypercare"]

[[runbook.steps]]
id = "prepare"
title = "Put the shop in maintenance mode"
owner = "bob"
start = "+00:00"
duration = "10m"
verify = ["db"]

[[runbook.steps]]
id = "migrate"
title = "Run the database migration"
owner = "ops_lead"
start = "+00:10"
duration = "10m"
depends_on = ["prepare"]
rollback_point = true
rollback_procedure = "Restore the database from the 19:55 snapshot before redeploying 1.9"

[[runbook.steps]]
id = "deploy"
title = "Deploy release 2.0"
owner = "carol"
start = "+00:20"
duration = "15m"
depends_on = ["migrate"]
"#;

/// The communication plan: email through `smtp_port`, chat to `hook`.
fn channels(smtp_port: u16, hook: &str) -> String {
    crate::plans::channels(smtp_port, hook, "2s")
}

async fn step(daemon: &Daemon, id: &str, action: &str, body: Value) -> (u16, Value) {
    daemon
        .post(&format!("/api/v1/runbook/{id}/{action}"), body)
        .await
}

fn for_recipient<'a>(messages: &'a [ReceivedMessage], address: &str) -> Vec<&'a ReceivedMessage> {
    messages
        .iter()
        .filter(|message| message.recipients.iter().any(|r| r == address))
        .collect()
}

async fn runbook_log(daemon: &Daemon) -> Vec<Value> {
    let (status, body) = daemon
        .get("/api/v1/log?kind=runbook&order=asc&limit=100")
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_wait_for_their_dependencies_unless_forced_with_a_reason() {
    let daemon = Daemon::start(&format!("{BASE_PLAN}{STEPS}")).await;

    // Out of order: 409 naming the unfinished dependency and its owner.
    let (status, body) = step(&daemon, "migrate", "start", json!({"author": "bob"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["blockers"][0]["kind"], "runbook_step");
    assert_eq!(body["blockers"][0]["id"], "prepare");
    assert_eq!(body["blockers"][0]["owner"], "bob");
    assert!(body["error"].as_str().unwrap().contains("force"), "{body}");

    // Bad requests name what is wrong.
    let (status, body) = step(&daemon, "prepar", "start", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("did you mean `prepare`")
    );
    let (status, body) = step(&daemon, "prepare", "skip", json!({})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("reason")),
        "{body}"
    );
    let (status, body) = step(&daemon, "prepare", "start", json!({"reasn": "x"})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("reasn")),
        "{body}"
    );
    let (status, body) = step(&daemon, "prepare", "done", json!({})).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = daemon
        .send(
            reqwest::Method::POST,
            "/api/v1/runbook/prepare/start",
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = step(
        &daemon,
        "migrate",
        "start",
        json!({"force": true, "author": "bob"}),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("reason")),
        "{body}"
    );

    // In order, then a forced start past an unfinished dependency.
    let (status, body) = step(&daemon, "prepare", "start", json!({"author": "bob"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["step"]["state"], "running");
    assert_eq!(body["step"]["started_by"], "bob");
    let (status, body) = step(
        &daemon,
        "migrate",
        "start",
        json!({"force": true, "reason": "prepared by hand", "author": "alice"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["change"]["forced"], true);
    assert_eq!(body["change"]["overridden"][0]["id"], "prepare");

    // Every change is in the log with who and when.
    let entries = runbook_log(&daemon).await;
    let texts: Vec<(&str, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry["author"].as_str().unwrap(),
                entry["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(texts[0].0, "bob");
    assert!(
        texts[0].1.starts_with("Step `prepare` started"),
        "{texts:?}"
    );
    assert_eq!(texts[1].0, "alice");
    assert!(
        texts[1]
            .1
            .contains("`migrate` started (forced past unfinished dependencies)")
            && texts[1].1.contains("prepared by hand"),
        "{texts:?}"
    );
    assert!(entries.iter().all(|entry| entry["at"].is_string()));

    // The runbook, metrics and the timeline show it.
    let (_, runbook) = daemon.get("/api/v1/runbook").await;
    let states: Vec<&str> = runbook["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["running", "running", "pending"]);
    assert_eq!(runbook["steps"][2]["blocked_by"], json!(["migrate"]));
    let (_, metrics) = daemon.get_text("/metrics").await;
    assert!(
        metrics.contains("golive_runbook_steps{state=\"running\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("golive_runbook_steps{state=\"pending\"} 1"));
    assert!(metrics.contains("golive_runbook_step_late_seconds{step=\"deploy\"} 0"));
    let (_, timeline) = daemon.get_text("/api/v1/timeline").await;
    assert!(timeline.contains("## Runbook"), "{timeline}");
    assert!(
        timeline.contains(
            "| migrate — Run the database migration | ops_lead | deploying | 20:10–20:20 (+00:10) |"
        ),
        "{timeline}"
    );
    assert!(timeline.contains("forced; prepared by hand; rollback point"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_not_started_in_time_warns_its_owner_then_the_project_manager() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let chat = Receiver::start().await;
    // In whole milliseconds, as the log stores times: a warning sent within the same millisecond
    // as its due time must not read as early.
    let now = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap();
    let go_live = now + SignedDuration::from_hours(1);
    let start = now + SignedDuration::from_secs(1);
    // Before the go-live, in go_no_go: late after 1 s + 2 s grace; the project manager 3 s later.
    let plan = format!(
        r#"{}
[runbook]
grace = "2s"
escalate_after = "3s"

[[runbook.steps]]
id = "freeze"
title = "Freeze writes"
owner = "bob"
start = "{start}"
duration = "5m"
phase = "go_no_go"
{}"#,
        BASE_PLAN.replacen(
            "go_live = 2030-01-01T20:00:00",
            &format!("go_live = \"{go_live}\""),
            1
        ),
        channels(smtp.port, &chat.url),
    );
    let daemon = Daemon::start(&plan).await;
    // Still in `planned`: a go_no_go step is not late before its phase begins.
    let (status, body) = daemon.post("/api/v1/phase", json!({})).await;
    assert_eq!(status, 200, "{body}");

    let messages = smtp.wait_for(2, Duration::from_secs(20)).await;
    let bob = for_recipient(&messages, "bob@example.com");
    let alice = for_recipient(&messages, "alice@example.com");
    assert_eq!((bob.len(), alice.len()), (1, 1), "{messages:?}");
    assert!(
        bob[0]
            .email
            .subject
            .contains("step `freeze` is late to start"),
        "{}",
        bob[0].email.subject
    );
    let text = bob[0].email.text.as_deref().unwrap_or("");
    assert!(text.contains("Owner: Bob Berg (bob)"), "{text}");
    assert!(text.contains("golive step start freeze"), "{text}");
    assert!(
        alice[0]
            .email
            .subject
            .contains("is still late (owner: Bob Berg (bob))"),
        "{}",
        alice[0].email.subject
    );
    // The owner hears first; neither is warned before it is due.
    let entries = runbook_log(&daemon).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["data"]["level"], 1);
    assert_eq!(entries[1]["data"]["level"], 2);
    let at = |entry: &Value| entry["at"].as_str().unwrap().parse::<Timestamp>().unwrap();
    assert!(at(&entries[0]) >= start + SignedDuration::from_secs(2));
    assert!(at(&entries[1]) >= start + SignedDuration::from_secs(5));
    assert!(
        entries[0]["text"]
            .as_str()
            .unwrap()
            .contains("warning sent to Bob Berg"),
        "{entries:?}"
    );
    // The chat hears both, mentioning who is meant.
    let texts = eventually(10, async || {
        let texts = chat.texts();
        (texts.len() >= 2).then_some(texts)
    })
    .await;
    assert!(
        texts
            .iter()
            .any(|text| text.contains("Bob Berg") && text.contains("freeze"))
    );
    let (_, metrics) = daemon.get_text("/metrics").await;
    let late = metrics
        .lines()
        .find(|line| line.starts_with("golive_runbook_step_late_seconds{step=\"freeze\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<f64>().ok())
        .unwrap_or_default();
    assert!(late >= 5.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overrunning_step_warns_once_per_level_also_across_a_restart() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let chat = Receiver::start().await;
    let plan = format!(
        r#"{BASE_PLAN}
[runbook]
grace = "1s"
escalate_after = "4s"

[[runbook.steps]]
id = "smoke"
title = "Smoke test"
owner = "qa_lead"
start = "+00:00"
duration = "1s"
{}"#,
        channels(smtp.port, &chat.url),
    );
    let mut daemon = Daemon::start(&plan).await;
    let (status, body) = step(&daemon, "smoke", "start", json!({"author": "carol"})).await;
    assert_eq!(status, 200, "{body}");

    // Level 1 (the QA lead, who owns it), then a restart before level 2 is due.
    let messages = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(messages[0].recipients, ["carol@example.com"]);
    assert!(
        messages[0]
            .email
            .subject
            .contains("step `smoke` is running late"),
        "{}",
        messages[0].email.subject
    );
    assert!(daemon.terminate().success());
    // The first daemon keeps the temporary folder alive; the restarted one uses the same data.
    let dir = daemon.dir.clone();
    let restarted = Daemon::start_in(&dir).await;
    // The step's record survived the restart.
    let (_, runbook) = restarted.get("/api/v1/runbook").await;
    assert_eq!(runbook["steps"][0]["state"], "running");
    assert_eq!(runbook["steps"][0]["started_by"], "carol");

    let messages = smtp.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(messages[1].recipients, ["alice@example.com"]);
    // Level 2 is sent once, and level 1 was not sent again after the restart.
    let entries = eventually(10, async || {
        let entries = runbook_log(&restarted).await;
        (entries.len() >= 3).then_some(entries)
    })
    .await;
    let levels: Vec<i64> = entries
        .iter()
        .filter(|entry| entry["data"]["event"] == "late")
        .map(|entry| entry["data"]["level"].as_i64().unwrap())
        .collect();
    assert_eq!(levels, [1, 2], "{entries:?}");
    assert_eq!(smtp.messages().len(), 2);

    // Done: no longer late.
    let (status, _) = step(&restarted, "smoke", "done", json!({"author": "carol"})).await;
    assert_eq!(status, 200);
    let (_, runbook) = restarted.get("/api/v1/runbook").await;
    assert_eq!(runbook["steps"][0]["late_seconds"], 0);
    assert_eq!(runbook["steps"][0]["state"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_sends_the_rollback_procedure_that_applies() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let chat = Receiver::start().await;
    let plan = format!("{BASE_PLAN}{STEPS}{}", channels(smtp.port, &chat.url));
    let daemon = Daemon::start(&plan).await;

    // Before the rollback point: the plan's procedure, to the project manager.
    step(&daemon, "prepare", "start", json!({"author": "bob"})).await;
    let (status, body) = step(&daemon, "prepare", "fail", json!({"author": "bob"})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("reason")));
    let (status, body) = step(
        &daemon,
        "prepare",
        "fail",
        json!({"author": "bob", "reason": "maintenance page does not show"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rollback"]["after_rollback_point"], Value::Null);
    let messages = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(messages[0].recipients, ["alice@example.com"]);
    assert!(messages[0].email.subject.contains("step `prepare` FAILED"));
    let text = messages[0].email.text.clone().unwrap_or_default();
    assert!(text.contains("maintenance page does not show"), "{text}");
    assert!(text.contains("No rollback point has been passed"), "{text}");
    assert!(
        text.contains("Redeploy release 1.9 and restore the database snapshot"),
        "{text}"
    );

    // Retried and done; past the migration (a rollback point) its own procedure applies.
    for (id, action) in [
        ("prepare", "start"),
        ("prepare", "done"),
        ("migrate", "start"),
        ("migrate", "done"),
        ("deploy", "start"),
    ] {
        let (status, body) = step(&daemon, id, action, json!({"author": "bob"})).await;
        assert_eq!(status, 200, "{id} {action}: {body}");
    }
    let (status, body) = step(
        &daemon,
        "deploy",
        "fail",
        json!({"author": "carol", "reason": "pods crash-loop"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rollback"]["after_rollback_point"], "migrate");
    let messages = smtp.wait_for(2, Duration::from_secs(20)).await;
    let text = messages[1].email.text.clone().unwrap_or_default();
    assert!(
        text.contains("Rollback point `migrate` has been passed"),
        "{text}"
    );
    assert!(
        text.contains("Restore the database from the 19:55 snapshot before redeploying 1.9"),
        "{text}"
    );
    let (_, runbook) = daemon.get("/api/v1/runbook").await;
    assert_eq!(runbook["rollback"]["after_rollback_point"], "migrate");
    let entries = runbook_log(&daemon).await;
    assert!(
        entries.iter().any(|entry| entry["text"]
            .as_str()
            .unwrap()
            .contains("Rollback recommended after step `deploy` failed (the procedure after rollback point `migrate`); procedure sent to Alice Adler")),
        "{entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_moves_steps_and_prints_the_runbook_as_a_table() {
    let daemon = Daemon::start(&format!("{BASE_PLAN}{STEPS}")).await;
    let dir = &daemon.dir;
    let run = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--plan", "plan.toml", "--author", "bob"]);
        cli(dir, &full)
    };

    let (code, _, err) = run(&["step", "start", "migrate"]);
    assert_ne!(code, 0);
    assert!(err.contains("409"), "{err}");
    assert!(err.contains("prepare"), "{err}");
    let (code, out, err) = run(&["step", "start", "prepare"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Step `prepare` is running.\n");
    // The checks to verify after the step are shown with it, and their health is logged when it
    // is done.
    eventually(10, async || {
        let (_, runbook) = daemon.get("/api/v1/runbook").await;
        (runbook["steps"][0]["verify"] == json!([{"check": "db", "health": "failing"}]))
            .then_some(())
    })
    .await;
    let (code, out, _) = run(&["step", "done", "prepare"]);
    assert_eq!((code, out.as_str()), (0, "Step `prepare` is done.\n"));
    let entries = runbook_log(&daemon).await;
    assert!(
        entries[1]["text"].as_str().unwrap().ends_with(
            "Step `prepare` done: Put the shop in maintenance mode (verify: db failing)"
        ),
        "{entries:?}"
    );
    assert_eq!(entries[1]["author"], "bob");
    let (code, out, err) = run(&["step", "skip", "migrate", "--reason", "no schema change"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Step `migrate` is skipped.\n");
    let (code, out, err) = run(&["step", "start", "deploy"]);
    assert_eq!(code, 0, "{err}: {out}");
    let (code, out, err) = run(&["step", "fail", "deploy", "--reason", "image missing"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Step `deploy` is failed.\n"), "{out}");
    assert!(
        out.contains("Rollback: the plan's rollback procedure (no rollback point passed) applies"),
        "{out}"
    );

    let (code, out, err) = run(&["runbook"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for column in [
        "STEP", "PHASE", "OWNER", "STATE", "PLANNED", "ACTUAL", "BY", "LATE", "NOTE",
    ] {
        assert!(lines[0].contains(column), "{out}");
    }
    assert!(lines[1].starts_with("prepare"), "{out}");
    assert!(
        lines[1].contains("DONE") && lines[1].contains("20:00–20:10"),
        "{out}"
    );
    assert!(lines[1].contains("bob"), "{out}");
    assert!(
        lines[2].contains("SKIPPED") && lines[2].contains("no schema change"),
        "{out}"
    );
    assert!(lines[2].contains("rollback point"), "{out}");
    assert!(
        lines[3].contains("FAILED") && lines[3].contains("image missing"),
        "{out}"
    );
}
