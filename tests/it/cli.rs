//! The CLI: commands against a real daemon, readable and JSON output, exit codes.

use serde_json::Value;

use crate::helpers::{BASE_PLAN, Daemon, cli, cli_with_token, cli_without_token, eventually};
use crate::targets::{Reply, serve};

#[tokio::test]
async fn the_cli_walks_a_launch_through_the_daemon() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let dir = daemon.dir.clone();
    let server = daemon.url.clone();
    let run = move |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--server", server.as_str()]);
        cli(&dir, &full)
    };

    let (code, out, err) = run(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Test shop — phase PLANNED"), "{out}");
    assert!(out.contains("Checklist: 0/4 confirmed"), "{out}");

    let (code, out, _) = run(&["phase", "advance"]);
    assert_eq!((code, out.as_str()), (0, "Phase planned → go_no_go\n"));

    let (code, _, err) = run(&["phase", "advance"]);
    assert_eq!(code, 1);
    assert!(err.contains("409"), "{err}");
    assert!(err.contains("checklist item `backup` (Database backup taken) is not confirmed; owner: Bob Berg (bob)"), "{err}");

    let (code, out, err) = run(&[
        "checklist",
        "confirm",
        "backup",
        "--note",
        "restore tested",
        "--author",
        "bob",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Confirmed `backup`.\n");
    let (code, _, err) = run(&["checklist", "confirm", "bakup"]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean `backup`"), "{err}");
    run(&["checklist", "confirm", "signoff"]);

    let (code, out, err) = run(&["phase", "set", "deploying", "--author", "alice"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Phase go_no_go → deploying\n");

    for (command, text) in [
        ("note", "War room open"),
        ("decision", "Go at 20:00"),
        ("lesson", "Start earlier"),
        ("feedback", "Faster checkout"),
    ] {
        let (code, out, err) = run(&[command, text]);
        assert_eq!(code, 0, "{command}: {err}");
        assert!(out.starts_with(&format!("Logged {command} #")), "{out}");
    }
    let (code, out, _) = run(&[
        "action",
        "add",
        "Write",
        "the",
        "post-mortem",
        "--owner",
        "alice",
        "--due",
        "2030-01-05",
    ]);
    assert_eq!((code, out.as_str()), (0, "Opened action item #1.\n"));
    let (code, _, err) = run(&["action", "add", "x", "--owner", "nobody"]);
    assert_eq!(code, 1);
    assert!(err.contains("owner"), "{err}");
    let (_, out, _) = run(&["action", "list"]);
    assert!(
        out.contains("#1")
            && out.contains("Write the post-mortem")
            && out.contains("due 2030-01-05"),
        "{out}"
    );
    let (code, out, _) = run(&["action", "done", "1", "--note", "published"]);
    assert_eq!((code, out.as_str()), (0, "Action item #1 is done.\n"));

    let (code, out, _) = run(&["log", "--kind", "decision"]);
    assert_eq!(code, 0);
    assert!(out.contains("Go at 20:00"), "{out}");

    let (code, out, _) = run(&["timeline"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("# Launch timeline: Test shop"), "{out}");
    assert!(out.contains("go_no_go → deploying | alice"), "{out}");

    let (code, out, _) = run(&["status", "--json"]);
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["phase"], "deploying");
    assert_eq!(status["actions"]["done"], 1);
}

#[tokio::test]
async fn the_cli_finds_the_daemon_from_the_plan_file() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (code, out, err) = cli(&daemon.dir, &["status", "--plan", "plan.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Test shop"), "{out}");
}

#[tokio::test]
async fn the_cli_says_when_the_token_is_missing_or_the_daemon_unreachable() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (code, _, err) = cli_without_token(&daemon.dir, &["note", "hi", "--server", &daemon.url]);
    assert_eq!(code, 77, "{err}");
    assert!(err.contains("GOLIVE_API_TOKEN"), "{err}");

    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, err) = cli(
        &daemon.dir,
        &["status", "--server", &format!("http://{free}")],
    );
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("cannot reach golive"), "{err}");
}

#[tokio::test]
async fn run_refuses_an_invalid_plan_with_64_and_an_unreadable_one_with_66() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(
        temp.path().join("bad.toml"),
        BASE_PLAN.replace("hypercare_days = 14", "hypercare_days = 0"),
    )
    .unwrap();
    let (code, _, err) = cli(temp.path(), &["run", "bad.toml"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("bad.toml:6:18: error: launch.hypercare_days"),
        "{err}"
    );
    assert!(err.contains("hypercare_days"), "{err}");

    let (code, _, err) = cli(temp.path(), &["run", "missing.toml"]);
    assert_eq!(code, 66, "{err}");
}

#[tokio::test]
async fn a_missing_token_source_is_warned_about_but_does_not_stop_the_daemon() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("plan.toml"), BASE_PLAN).unwrap();
    // The plan names a token in GOLIVE_TEST_RM_TOKEN; start without it.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_golive"))
        .args(["run", "plan.toml", "--listen", "127.0.0.1:0"])
        .current_dir(temp.path())
        .env("GOLIVE_API_TOKEN", crate::helpers::TOKEN)
        .env_remove("GOLIVE_TEST_RM_TOKEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let daemon_file = temp.path().join("data/daemon.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !daemon_file.exists() {
        assert!(std::time::Instant::now() < deadline, "daemon did not start");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(&daemon_file).unwrap()).unwrap();
    let url = info["url"].as_str().unwrap();
    let http = reqwest::Client::new();
    let refused = http
        .post(format!("{url}/api/v1/log"))
        .bearer_auth(crate::helpers::RM_TOKEN)
        .json(&serde_json::json!({"kind": "note", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let accepted = http
        .post(format!("{url}/api/v1/log"))
        .bearer_auth(crate::helpers::TOKEN)
        .json(&serde_json::json!({"kind": "note", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 201);
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GOLIVE_TEST_RM_TOKEN is not set"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_cli_prints_times_in_the_launch_zone_with_seconds() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (code, out, err) = cli(&daemon.dir, &["status", "--server", &daemon.url]);
    assert_eq!(code, 0, "{err}");
    // go_live = 2030-01-01T20:00:00 in Europe/Berlin.
    assert!(
        out.contains("Go-live in ") && out.contains("(2030-01-01 20:00:00 CET)"),
        "{out}"
    );
    cli(
        &daemon.dir,
        &["note", "War room open", "--server", &daemon.url],
    );
    let (code, out, err) = cli(&daemon.dir, &["log", "--server", &daemon.url]);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|line| line.contains("War room open"))
        .unwrap_or_else(|| panic!("{out}"));
    // `#1     2026-11-30 20:45:06 CET  note ...`: a local time with seconds, not RFC 3339.
    let at: Vec<&str> = line.split_whitespace().skip(1).take(3).collect();
    assert_eq!(at.len(), 3, "{line}");
    assert!(
        jiff::civil::Date::strptime("%Y-%m-%d", at[0]).is_ok()
            && jiff::civil::Time::strptime("%H:%M:%S", at[1]).is_ok()
            && ["CET", "CEST"].contains(&at[2]),
        "{line}"
    );
    // Confirming twice names when it was confirmed first, the same way.
    let confirm = ["checklist", "confirm", "backup", "--server", &daemon.url];
    cli(&daemon.dir, &confirm);
    let (code, out, err) = cli(&daemon.dir, &confirm);
    assert_eq!(code, 0, "{err}");
    let at = out
        .trim_end()
        .trim_end_matches('.')
        .rsplit(" at ")
        .next()
        .unwrap_or_default();
    let parts: Vec<&str> = at.split(' ').collect();
    assert!(
        out.contains("was already confirmed by")
            && parts.len() == 3
            && jiff::civil::Time::strptime("%H:%M:%S", parts[1]).is_ok()
            && ["CET", "CEST"].contains(&parts[2]),
        "{out}"
    );
}

#[tokio::test]
async fn the_cli_shows_a_fast_check_latency_in_microseconds_or_milliseconds_with_its_unit() {
    let target = serve(|_| Reply::ok("ok")).await;
    let plan = format!(
        r#"{BASE_PLAN}
[[checks]]
id = "web"
kind = "http"
url = "{}"
interval = "200ms"
timeout = "150ms"
phases = ["planned"]
"#,
        target.url("/")
    );
    let daemon = Daemon::start(&plan).await;
    let line = eventually(20, async || {
        let (_, out, _) = cli(&daemon.dir, &["checks", "--server", &daemon.url]);
        out.lines()
            .find(|line| line.starts_with("web ") && line.contains("HEALTHY"))
            .map(str::to_string)
    })
    .await;
    let cells: Vec<&str> = line.split_whitespace().collect();
    // web  http  HEALTHY  850 µs  (no reason)
    assert!(cells.len() >= 5, "{line}");
    assert!(cells[3].parse::<f64>().is_ok_and(|n| n > 0.0), "{line}");
    assert!(["µs", "ms", "s"].contains(&cells[4]), "{line}");
}

#[tokio::test]
async fn the_cli_says_no_alert_is_open_and_shows_the_one_just_resolved() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let run = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--server", daemon.url.as_str()]);
        cli(&daemon.dir, &full)
    };
    let (code, out, _) = run(&["alerts"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "No open alerts; none has been raised.\n")
    );

    let payload = |status: &str| {
        serde_json::json!({
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
                "labels": {"alertname": "HighErrorRate", "severity": "critical"},
                "annotations": {"summary": "5xx rate above 5%"},
                "startsAt": "2026-11-27T10:00:00Z",
                "endsAt": if status == "resolved" { "2026-11-27T10:05:00Z" } else { "0001-01-01T00:00:00Z" },
                "fingerprint": "a1b2c3"
            }]
        })
    };
    let (status, body) = daemon.post("/api/v1/alertmanager", payload("firing")).await;
    assert_eq!(status, 200, "{body}");
    let (_, out, _) = run(&["alerts"]);
    assert!(out.starts_with("ALERT") && out.contains("OPEN"), "{out}");
    let (status, body) = daemon
        .post("/api/v1/alertmanager", payload("resolved"))
        .await;
    assert_eq!(status, 200, "{body}");

    let (code, out, err) = run(&["alerts"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("No open alerts.\n\nRecently resolved (all: golive alerts --all):\nALERT"),
        "{out}"
    );
    assert!(
        out.contains("#1") && out.contains("resolved") && out.contains("HighErrorRate"),
        "{out}"
    );
}

#[tokio::test]
async fn the_cli_tells_a_missing_token_from_a_refused_one() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (code, _, missing) =
        cli_without_token(&daemon.dir, &["note", "hi", "--server", &daemon.url]);
    assert_eq!(code, 77, "{missing}");
    assert!(
        missing.contains("no API token: set GOLIVE_API_TOKEN"),
        "{missing}"
    );
    let (code, _, refused) = cli_with_token(
        &daemon.dir,
        "not-a-known-token",
        &["note", "hi", "--server", &daemon.url],
    );
    assert_eq!(code, 77, "{refused}");
    assert!(
        refused.contains("401")
            && refused.contains("the daemon refused the token in GOLIVE_API_TOKEN"),
        "{refused}"
    );
    assert_ne!(missing, refused);
}

#[tokio::test]
async fn acknowledging_only_alerts_that_are_not_open_says_that_none_was_acknowledged() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (code, out, err) = cli(&daemon.dir, &["ack", "41", "--server", daemon.url.as_str()]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "No alert acknowledged: none of them is open.\n");
    assert!(
        err.contains("not open (resolved, or no such alert): #41"),
        "{err}"
    );
}
