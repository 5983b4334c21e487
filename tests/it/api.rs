//! The HTTP API against a real daemon: lifecycle and gates, checklist, log, action items,
//! authentication, errors, metrics and the timeline.

use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon, RM_TOKEN};

async fn advance(daemon: &Daemon) -> (u16, Value) {
    daemon.post("/api/v1/phase", json!({})).await
}

#[tokio::test]
async fn leaving_go_no_go_is_refused_with_blockers_until_required_items_are_confirmed() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (status, body) = advance(&daemon).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phase"], "go_no_go");

    let (status, body) = advance(&daemon).await;
    assert_eq!(status, 409, "{body}");
    let blockers: Vec<&str> = body["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        blockers,
        ["backup", "signoff"],
        "optional and verifying-gated items do not block"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("cannot leave go_no_go")
    );

    let (status, body) = daemon
        .post(
            "/api/v1/checklist/backup/confirm",
            json!({"note": "restore tested", "author": "bob"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["confirmation"]["by"], "bob");
    assert_eq!(body["confirmation"]["newly_confirmed"], true);
    let (status, body) = advance(&daemon).await;
    assert_eq!(status, 409);
    assert_eq!(body["blockers"].as_array().unwrap().len(), 1);

    daemon
        .post("/api/v1/checklist/signoff/confirm", json!({}))
        .await;
    let (status, body) = advance(&daemon).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phase"], "deploying");

    let (_, status_body) = daemon.get("/api/v1/status").await;
    assert_eq!(status_body["phase"], "deploying");
    assert_eq!(status_body["checklist"]["confirmed"], 2);
    assert_eq!(status_body["checklist"]["required"], 3);
}

#[tokio::test]
async fn a_forced_transition_needs_a_reason_and_records_it() {
    let daemon = Daemon::start(BASE_PLAN).await;
    advance(&daemon).await;
    let (status, body) = daemon.post("/api/v1/phase", json!({"force": true})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "reason");

    let (status, body) = daemon
        .post(
            "/api/v1/phase",
            json!({"to": "deploying", "force": true, "reason": "backup verified by phone", "author": "alice"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["transition"]["forced"], true);

    let (_, log) = daemon.get("/api/v1/log?kind=phase").await;
    let newest = &log["entries"][0];
    assert_eq!(newest["author"], "alice");
    assert_eq!(newest["data"]["forced"], true);
    assert_eq!(newest["data"]["reason"], "backup verified by phone");
    assert!(newest["text"].as_str().unwrap().contains("(forced)"));
}

#[tokio::test]
async fn skipping_going_backwards_and_leaving_a_final_phase_are_refused_with_an_explanation() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (status, body) = daemon
        .post("/api/v1/phase", json!({"to": "hypercare"}))
        .await;
    assert_eq!(status, 409);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("cannot be skipped"),
        "{body}"
    );

    advance(&daemon).await;
    let (status, body) = daemon.post("/api/v1/phase", json!({"to": "planned"})).await;
    assert_eq!(status, 409);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("never go backwards"),
        "{body}"
    );

    let (status, body) = daemon
        .post("/api/v1/phase", json!({"to": "rolled_back", "reason": "x"}))
        .await;
    assert_eq!(status, 409);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("only while deploying"),
        "{body}"
    );

    daemon
        .post("/api/v1/phase", json!({"force": true, "reason": "test"}))
        .await;
    let (status, body) = daemon
        .post(
            "/api/v1/phase",
            json!({"to": "rolled_back", "reason": "payments failing"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = advance(&daemon).await;
    assert_eq!(status, 409);
    assert!(
        body["error"].as_str().unwrap().contains("final phase"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_phase_name_is_a_400_naming_the_field_with_a_suggestion() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (status, body) = daemon
        .post("/api/v1/phase", json!({"to": "go-no-go"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "to");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("did you mean `go_no_go`"),
        "{body}"
    );
}

#[tokio::test]
async fn writes_need_a_valid_bearer_token_and_reads_do_not() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let note = json!({"kind": "note", "text": "hello"});
    for token in [None, Some("wrong-token"), Some("")] {
        let (status, body) = daemon
            .send(reqwest::Method::POST, "/api/v1/log", note.clone(), token)
            .await;
        assert_eq!(status, 401, "token {token:?}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer")
        );
    }
    let (status, _) = daemon.get("/api/v1/log").await;
    assert_eq!(status, 200);
    assert_eq!(
        daemon.get("/api/v1/log").await.1["entries"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // The plan's named token works too, and its name becomes the author.
    let (status, body) = daemon
        .send(reqwest::Method::POST, "/api/v1/log", note, Some(RM_TOKEN))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["entry"]["author"], "release-manager");
}

#[tokio::test]
async fn bad_input_gets_a_json_400_naming_the_field_never_a_500() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let cases = [
        ("/api/v1/log", json!({"text": "no kind"}), "kind"),
        ("/api/v1/log", json!({"kind": "note"}), "text"),
        (
            "/api/v1/log",
            json!({"kind": "gossip", "text": "x"}),
            "kind",
        ),
        ("/api/v1/log", json!({"kind": "phase", "text": "x"}), "kind"),
        (
            "/api/v1/log",
            json!({"kind": "note", "text": "   "}),
            "text",
        ),
        ("/api/v1/log", json!({"kind": "note", "text": 5}), "text"),
        (
            "/api/v1/log",
            json!({"kind": "note", "text": "x", "colour": "red"}),
            "colour",
        ),
        (
            "/api/v1/actions",
            json!({"title": "x", "owner": "bobb"}),
            "owner",
        ),
        (
            "/api/v1/actions",
            json!({"title": "x", "owner": "bob", "due": "friday"}),
            "due",
        ),
        (
            "/api/v1/actions",
            json!({"title": "", "owner": "bob"}),
            "title",
        ),
        ("/api/v1/phase", json!({"force": "yes"}), "force"),
    ];
    for (path, body, field) in cases {
        let (status, answer) = daemon.post(path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(answer["field"], field, "{path} {body}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let response = daemon
        .http
        .post(daemon.at("/api/v1/log"))
        .bearer_auth(crate::helpers::TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["field"], "body");

    let (status, answer) = daemon
        .post("/api/v1/checklist/nope/confirm", json!({}))
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = daemon
        .patch("/api/v1/actions/99", json!({"status": "done"}))
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = daemon
        .patch("/api/v1/actions/abc", json!({"status": "done"}))
        .await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("id")));
    let (status, answer) = daemon.get("/api/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert!(answer["error"].is_string());
    let (status, answer) = daemon.get("/api/v1/log?limit=0").await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("limit")));
    // Nothing was stored by any of the refused writes.
    assert_eq!(
        daemon.get("/api/v1/log").await.1["entries"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn bodies_over_64_kib_get_413() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let text = "x".repeat(70 * 1024);
    let (status, body) = daemon
        .post("/api/v1/log", json!({"kind": "note", "text": text}))
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("64 KiB"));
}

#[tokio::test]
async fn the_log_records_every_kind_and_pages_newest_first() {
    let daemon = Daemon::start(BASE_PLAN).await;
    for (kind, text) in [
        ("note", "War room open"),
        ("decision", "Go for launch at 20:00"),
        ("lesson", "Warm the caches before the switch"),
        ("feedback", "Support: checkout is faster"),
    ] {
        let (status, body) = daemon
            .post(
                "/api/v1/log",
                json!({"kind": kind, "text": text, "author": "alice"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["entry"]["kind"], kind);
        assert!(body["entry"]["at"].is_string());
    }
    let (_, first) = daemon.get("/api/v1/log?limit=3").await;
    let texts: Vec<&str> = first["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Support: checkout is faster",
            "Warm the caches before the switch",
            "Go for launch at 20:00"
        ]
    );
    let before = first["next_before"].as_i64().expect("another page");
    let (_, second) = daemon
        .get(&format!("/api/v1/log?limit=3&before={before}"))
        .await;
    assert_eq!(second["entries"][0]["text"], "War room open");
    assert!(second["next_before"].is_null());
    let (_, decisions) = daemon.get("/api/v1/log?kind=decision,lesson").await;
    assert_eq!(decisions["entries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn action_items_are_opened_changed_and_listed_with_every_change_logged() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (status, body) = daemon
        .post(
            "/api/v1/actions",
            json!({"title": "Write the post-mortem", "owner": "alice", "due": "2020-01-10"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["action"]["id"].as_i64().unwrap();
    assert_eq!(body["action"]["status"], "open");
    daemon
        .post(
            "/api/v1/actions",
            json!({"title": "Tune alert thresholds", "owner": "ops_lead"}),
        )
        .await;

    let (_, overdue) = daemon.get("/api/v1/actions?status=overdue").await;
    assert_eq!(overdue["actions"].as_array().unwrap().len(), 1, "{overdue}");
    let (_, status_body) = daemon.get("/api/v1/status").await;
    assert_eq!(status_body["actions"]["open"], 2);
    assert_eq!(status_body["actions"]["overdue"], 1);

    let (status, body) = daemon
        .patch(
            &format!("/api/v1/actions/{id}"),
            json!({"status": "done", "note": "published", "author": "carol"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"]["status"], "done");
    let (_, open) = daemon.get("/api/v1/actions?status=open").await;
    assert_eq!(open["actions"].as_array().unwrap().len(), 1);

    let (_, log) = daemon.get("/api/v1/log?kind=action&order=asc").await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["author"], "carol");
    assert!(entries[2]["text"].as_str().unwrap().contains("status done"));
    assert!(entries[2]["text"].as_str().unwrap().contains("published"));
}

#[tokio::test]
async fn metrics_export_the_phase_checklist_actions_and_build_info() {
    let daemon = Daemon::start(BASE_PLAN).await;
    advance(&daemon).await;
    daemon
        .post("/api/v1/checklist/backup/confirm", json!({}))
        .await;
    daemon
        .post(
            "/api/v1/actions",
            json!({"title": "x", "owner": "bob", "due": "2020-01-01"}),
        )
        .await;
    let (status, text) = daemon.get_text("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "golive_phase{phase=\"go_no_go\"} 1",
        "golive_phase{phase=\"planned\"} 0",
        "golive_checklist_items{required=\"true\",state=\"confirmed\"} 1",
        "golive_checklist_items{required=\"true\",state=\"pending\"} 2",
        "golive_checklist_items{required=\"false\",state=\"pending\"} 1",
        "golive_action_items{state=\"open\"} 1",
        "golive_action_items{state=\"overdue\"} 1",
        "golive_log_entries_total{kind=\"phase\"} 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(text.contains("golive_build_info{version=\""));
    let started = text
        .lines()
        .find(|line| line.starts_with("golive_phase_started_timestamp_seconds "))
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|value| value.parse::<f64>().ok())
        .expect("phase start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - started).abs() < 120.0,
        "phase started {started}, now {now}"
    );
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let daemon = Daemon::start(BASE_PLAN).await;
    assert_eq!(daemon.get_text("/healthz").await.0, 200);
    assert_eq!(daemon.get_text("/readyz").await.0, 200);
}

#[tokio::test]
async fn the_plan_is_served_without_secrets() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (status, text) = daemon.get_text("/api/v1/plan").await;
    assert_eq!(status, 200);
    assert!(!text.contains(RM_TOKEN), "token value leaked: {text}");
    assert!(!text.contains(crate::helpers::TOKEN));
    let plan: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(plan["launch"]["name"], "Test shop");
    assert_eq!(plan["server"]["tokens"][0]["env"], "GOLIVE_TEST_RM_TOKEN");
    assert_eq!(plan["server"]["tokens"][0]["value"], "[redacted]");
    assert_eq!(plan["checklist"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn the_timeline_is_markdown_minutes_of_the_launch() {
    let daemon = Daemon::start(BASE_PLAN).await;
    advance(&daemon).await;
    daemon
        .post(
            "/api/v1/checklist/backup/confirm",
            json!({"author": "bob", "note": "restore ok"}),
        )
        .await;
    daemon
        .post(
            "/api/v1/log",
            json!({"kind": "decision", "text": "Go at 20:00", "author": "alice"}),
        )
        .await;
    daemon
        .post(
            "/api/v1/log",
            json!({"kind": "lesson", "text": "Start earlier", "author": "carol"}),
        )
        .await;
    let response = daemon
        .http
        .get(daemon.at("/api/v1/timeline"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("# Launch timeline: Test shop"), "{text}");
    assert!(text.contains("planned → go_no_go"), "{text}");
    assert!(text.contains("| bob |"), "{text}");
    assert!(text.contains("restore ok"));
    assert!(text.contains("alice: Go at 20:00"));
    assert!(text.contains("carol: Start earlier"));
    assert!(text.contains("signoff — Business sign-off") && text.contains("**not confirmed**"));
}

#[tokio::test]
async fn query_path_and_method_errors_are_the_json_error_body_naming_the_field() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let http = reqwest::Client::new();
    for (method, path, status, field, says) in [
        (
            reqwest::Method::GET,
            "/api/v1/alerts?limit=abc",
            400,
            "limit",
            "query parameter `limit`: invalid digit found in string",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/log?limit=-1",
            400,
            "limit",
            "query parameter `limit`",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/checks/web?minutes=lots",
            400,
            "minutes",
            "query parameter `minutes`",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/alerts/%FF",
            400,
            "id",
            "path segment `id`: Invalid UTF-8 in `id`",
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/status",
            405,
            "",
            "this endpoint does not answer DELETE",
        ),
    ] {
        let response = http
            .request(method.clone(), daemon.at(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(content_type, "application/json", "{method} {path}");
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{method} {path}: {body}");
        if field.is_empty() {
            assert!(body.get("field").is_none(), "{method} {path}: {body}");
        } else {
            assert_eq!(body["field"], field, "{method} {path}: {body}");
        }
    }
}

#[tokio::test]
async fn a_silence_that_would_not_last_is_blamed_on_the_field_that_was_sent() {
    let daemon = Daemon::start(BASE_PLAN).await;
    for (body, field) in [
        (json!({"comment": "deploy", "duration": "-30m"}), "duration"),
        (json!({"comment": "deploy", "duration": "0s"}), "duration"),
        (
            json!({"comment": "deploy", "start": "2020-01-01T00:00:00Z", "duration": "1h"}),
            "duration",
        ),
        (
            json!({"comment": "deploy", "end": "2020-01-01T00:00:00Z"}),
            "end",
        ),
    ] {
        let (status, answer) = daemon.post("/api/v1/silences", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
}

/// The base plan with reports by email (written to the outbox folder: no `[smtp]`).
fn plan_with_reports(extra: &str) -> String {
    format!(
        "{BASE_PLAN}
[[channels]]
id = \"email\"
kind = \"email\"

[reports]
to = [\"alice\"]
{extra}
"
    )
}

#[tokio::test]
async fn an_unexpected_failure_is_an_opaque_500_and_its_cause_is_in_the_daemon_log() {
    let daemon = Daemon::start(&plan_with_reports("")).await;
    // Reports read the hourly history's bookkeeping; without its table, composing one fails in
    // a way no request could have caused.
    crate::helpers::open_database(&daemon.dir)
        .execute_batch("PRAGMA busy_timeout = 5000; DROP TABLE hours_rolled_up;")
        .expect("drop table");

    let (status, body) = daemon.post("/api/v1/reports/send", json!({})).await;

    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body,
        json!({"error": "internal error; the daemon's log has the details"})
    );
    let log = crate::helpers::eventually(10, async || {
        let log = daemon.log();
        log.contains("no such table: hours_rolled_up")
            .then_some(log)
    })
    .await;
    assert!(log.contains("request failed"), "{log}");
}

#[tokio::test]
async fn a_report_template_of_the_plan_that_does_not_render_is_named_in_the_answer() {
    let daemon = Daemon::start(&plan_with_reports("templates = \"templates\"")).await;
    std::fs::create_dir(daemon.dir.join("templates")).expect("templates folder");
    std::fs::write(
        daemon.dir.join("templates").join("daily.txt"),
        "{{ report.launch | no_such_filter }}\n",
    )
    .expect("template");

    let (status, body) = daemon.post("/api/v1/reports/send", json!({})).await;

    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("cannot render the report: report template daily.txt"),
        "{body}"
    );
    assert!(error.contains("no_such_filter"), "{body}");
}
