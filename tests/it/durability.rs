//! Durability: nothing acknowledged is lost to SIGKILL, restarts keep the state, one daemon per data
//! directory, hypercare ends from its recorded start, SIGTERM shuts down cleanly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;

use crate::helpers::{BASE_PLAN, Daemon, TOKEN, open_database, spawn};

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_in_the_middle_of_a_stream_of_writes() {
    let mut daemon = Daemon::start(BASE_PLAN).await;
    daemon.post("/api/v1/phase", json!({})).await;
    daemon
        .post("/api/v1/checklist/backup/confirm", json!({"author": "bob"}))
        .await;

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (http, url) = (daemon.http.clone(), daemon.at("/api/v1/log"));
        let (acknowledged, count, stop) = (acknowledged.clone(), count.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let text = format!("writer {writer} entry {n}");
                let sent = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"kind": "note", "text": text}))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 201 => {
                        acknowledged.lock().await.push(text);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    // The daemon died mid-request: this write was never acknowledged.
                    _ => break,
                }
            }
        }));
    }
    while count.load(Ordering::Relaxed) < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Kill while the writers are still sending.
    daemon.kill9();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().await.clone();
    assert!(acknowledged.len() >= 200);

    let integrity: String = open_database(&daemon.dir)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    let dir = daemon.dir.clone();
    let restarted = Daemon::start_in(&dir).await;
    let mut stored = std::collections::HashSet::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(id) => format!("/api/v1/log?kind=note&limit=500&before={id}"),
            None => "/api/v1/log?kind=note&limit=500".to_string(),
        };
        let (_, page) = restarted.get(&path).await;
        for entry in page["entries"].as_array().unwrap() {
            stored.insert(entry["text"].as_str().unwrap().to_string());
        }
        match page["next_before"].as_i64() {
            Some(id) => before = Some(id),
            None => break,
        }
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|text| !stored.contains(*text))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );

    let (_, status) = restarted.get("/api/v1/status").await;
    assert_eq!(status["phase"], "go_no_go");
    let backup = &status["checklist"]["items"][0];
    assert_eq!(
        (backup["id"].as_str(), backup["confirmed_by"].as_str()),
        (Some("backup"), Some("bob"))
    );
    drop(daemon);
}

#[tokio::test]
async fn a_second_daemon_on_the_same_data_directory_refuses_to_start() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let second = spawn(
        &daemon.dir,
        &["run", "plan.toml", "--listen", "127.0.0.1:0"],
    );
    let output = second.wait_with_output().unwrap();
    let stderr = daemon.log();
    assert_eq!(output.status.code(), Some(69), "{stderr}");
    assert!(
        stderr.contains("another golive daemon is already using the data directory"),
        "{stderr}"
    );
    // The first one is unaffected.
    assert_eq!(daemon.get_text("/readyz").await.0, 200);
}

fn set_phase_since(dir: &std::path::Path, days_ago: f64) -> i64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let since = now_ms - (days_ago * 86_400_000.0) as i64;
    open_database(dir)
        .execute(
            "UPDATE launch_state SET phase_since = ?1 WHERE id = 1",
            [since],
        )
        .unwrap();
    since
}

#[tokio::test]
async fn hypercare_closes_by_itself_counted_from_its_recorded_start_across_restarts() {
    let mut daemon = Daemon::start(BASE_PLAN).await;
    for _ in 0..4 {
        let (status, body) = daemon
            .post(
                "/api/v1/phase",
                json!({"force": true, "reason": "test setup"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(daemon.get("/api/v1/status").await.1["phase"], "hypercare");
    assert!(daemon.terminate().success());

    // 13 of 14 days have passed: a restart must not reset the clock, nor close early.
    let since = set_phase_since(&daemon.dir, 13.0);
    let dir = daemon.dir.clone();
    let mut restarted = Daemon::start_in(&dir).await;
    let (_, status) = restarted.get("/api/v1/status").await;
    assert_eq!(status["phase"], "hypercare");
    let ends: jiff::Timestamp = status["hypercare_ends_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ends.as_millisecond(), since + 14 * 86_400_000);
    assert!(restarted.terminate().success());

    // 15 days have passed while the daemon was down: it closes as soon as it is back.
    set_phase_since(&dir, 15.0);
    let restarted = Daemon::start_in(&dir).await;
    let (_, status) = restarted.get("/api/v1/status").await;
    assert_eq!(status["phase"], "closed");
    let (_, log) = restarted.get("/api/v1/log?kind=phase").await;
    let last = &log["entries"][0];
    assert_eq!(last["author"], "golive");
    assert_eq!(last["data"]["to"], "closed");
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .contains("hypercare of 14 day(s) ended")
    );
    drop(daemon);
}

#[tokio::test]
async fn sigterm_finishes_cleanly_with_exit_zero_and_frees_the_data_directory() {
    let mut daemon = Daemon::start(BASE_PLAN).await;
    daemon
        .post(
            "/api/v1/log",
            json!({"kind": "note", "text": "before shutdown"}),
        )
        .await;
    let status = daemon.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(
        !daemon.dir.join("data/daemon.json").exists(),
        "daemon file left behind"
    );
    // The lock is released: a new daemon starts on the same directory and has the note.
    let dir = daemon.dir.clone();
    let restarted = Daemon::start_in(&dir).await;
    let (_, log) = restarted.get("/api/v1/log").await;
    assert_eq!(log["entries"][0]["text"], "before shutdown");
    drop(daemon);
}
