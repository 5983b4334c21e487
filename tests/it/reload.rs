//! Reloading the plan without a restart (`SIGHUP`, `golive reload`, `POST /api/v1/reload`)
//! through the real daemon: an invalid plan is refused with its line and column and the old plan
//! keeps running; a change that needs a restart is refused naming the key; a valid plan adds and
//! removes checks at once, keeps the checklist confirmations, and is recorded in the log.

use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon, cli, eventually};

/// A tcp check on a port nothing listens on (it fails, which is not the point here).
fn tcp_check(id: &str) -> String {
    format!(
        "\n[[checks]]\nid = \"{id}\"\nname = \"{id}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nphases = [\"planned\", \"go_no_go\", \"deploying\", \"verifying\", \"hypercare\"]\n"
    )
}

fn write_plan(daemon: &Daemon, text: &str) {
    std::fs::write(daemon.dir.join("plan.toml"), text).expect("write plan");
}

async fn check_ids(daemon: &Daemon) -> Vec<String> {
    let (status, body) = daemon.get("/api/v1/checks").await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .or_else(|| body["checks"].as_array())
        .expect("checks")
        .iter()
        .map(|check| check["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn an_invalid_plan_is_refused_with_line_and_column_and_the_old_plan_keeps_running() {
    let plan = format!("{BASE_PLAN}{}", tcp_check("db"));
    let daemon = Daemon::start(&plan).await;
    write_plan(
        &daemon,
        &format!("{plan}{}interval = \"soon\"\n", tcp_check("api")),
    );
    let (status, body) = daemon.post("/api/v1/reload", json!({})).await;
    assert_eq!(status, 422, "{body}");
    let diagnostic = &body["diagnostics"][0];
    assert!(diagnostic["line"].as_u64().unwrap_or(0) > 0, "{body}");
    assert!(diagnostic["col"].as_u64().unwrap_or(0) > 0, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("plan.toml:"),
        "{body}"
    );
    assert_eq!(check_ids(&daemon).await, vec!["db"]);
    let (code, _, err) = cli(&daemon.dir, &["reload", "--server", &daemon.url]);
    assert_ne!(code, 0);
    assert!(err.contains("plan.toml:"), "{err}");
}

#[tokio::test]
async fn changing_the_listen_address_or_data_dir_is_refused_naming_the_key() {
    let plan = format!("{BASE_PLAN}{}", tcp_check("db"));
    let daemon = Daemon::start(&plan).await;
    write_plan(&daemon, &plan.replace("127.0.0.1:9898", "127.0.0.1:9899"));
    let (status, body) = daemon.post("/api/v1/reload", json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["field"], "server.listen", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("restart"),
        "{body}"
    );
    assert_eq!(check_ids(&daemon).await, vec!["db"]);
}

#[tokio::test]
async fn sighup_adds_and_removes_checks_at_once_and_keeps_confirmations() {
    let plan = format!("{BASE_PLAN}{}", tcp_check("db"));
    let daemon = Daemon::start(&plan).await;
    let (status, body) = daemon
        .post("/api/v1/checklist/backup/confirm", json!({"author": "bob"}))
        .await;
    assert_eq!(status, 200, "{body}");
    write_plan(&daemon, &format!("{BASE_PLAN}{}", tcp_check("api")));
    daemon.hangup();
    // The new check is probed (it has a last result) and the removed one is gone.
    eventually(15, async || {
        let (_, body) = daemon.get("/api/v1/checks").await;
        let checks = body
            .as_array()
            .or_else(|| body["checks"].as_array())?
            .clone();
        let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
        (ids == ["api"] && !checks[0]["last"].is_null()).then_some(())
    })
    .await;
    let (_, checklist) = daemon.get("/api/v1/checklist").await;
    let confirmed = checklist
        .as_array()
        .or_else(|| checklist["items"].as_array())
        .expect("checklist")
        .iter()
        .find(|item| item["id"] == "backup")
        .map(|item| item["confirmed"].clone());
    assert!(
        confirmed.is_some_and(|value| value != Value::Null && value != Value::Bool(false)),
        "{checklist}"
    );
    let (_, log) = daemon.get("/api/v1/log?kind=decision").await;
    assert!(
        log.to_string()
            .contains("checks: 1 added (api), 1 removed (db)"),
        "{log}"
    );
    let (code, out, err) = cli(&daemon.dir, &["reload", "--plan", "plan.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Plan reloaded from"), "{out}");
    assert!(out.contains("nothing changed"), "{out}");
}
