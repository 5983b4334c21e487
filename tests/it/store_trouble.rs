//! Store trouble through the real daemon: the plan's data directory lives on a small tmpfs that the
//! test fills to the last byte. Writes must then say why they fail (507 with a reason a person can
//! act on), reads keep working, and the health changes seen meanwhile reach the launch log once the
//! disk has room again, in order and with the times they happened.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon, eventually, open_database};
use crate::monitoring::{Switchable, check_view, metric};
use crate::plans::http_check;

/// A tmpfs of a few megabytes mounted over a folder for one test. Dropping it unmounts it (lazily
/// when something still holds a file there), so a failing test never leaves a mount behind.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs at {} failed ({status}); this test needs root",
            path.display()
        );
        SmallDisk {
            path: path.to_path_buf(),
        }
    }

    /// Writes `filler` until the disk refuses another byte, and returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler file");
        // Big chunks first, then single bytes, so not even a partial page is left.
        for chunk in [64 * 1024, 4096, 1] {
            let block = vec![0u8; chunk];
            loop {
                match file.write(&block) {
                    Ok(written) if written == block.len() => {}
                    Ok(_) => break,
                    Err(error) if error.raw_os_error() == Some(28) => break,
                    Err(error) => panic!("filling {}: {error}", filler.display()),
                }
            }
        }
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

fn plan(target: &str) -> String {
    format!(
        "{BASE_PLAN}{}",
        http_check("web", target).named("Shop front")
    )
}

async fn note(daemon: &Daemon, text: &str) -> (u16, Value) {
    daemon
        .post("/api/v1/log", json!({ "kind": "note", "text": text }))
        .await
}

/// Fills the disk, then writes notes until the store runs out of room too, and returns the
/// filler file and the answer to the first write that failed. SQLite may still find room in pages
/// its files already hold, so big notes use up whatever is left, then tiny ones the last scraps.
async fn fill_until_writes_fail(daemon: &Daemon, disk: &SmallDisk) -> (PathBuf, u16, Value) {
    let filler = disk.fill();
    'sizes: for text_size in [12 * 1024, 100, 1] {
        for attempt in 0..400 {
            let text = format!("{attempt:0>text_size$}");
            let (status, body) = note(daemon, &text).await;
            match status {
                201 => {}
                _ if text_size > 1 => continue 'sizes,
                _ => return (filler, status, body),
            }
        }
        panic!("{text_size}-byte notes never failed on a full disk");
    }
    unreachable!("the smallest notes return or panic")
}

async fn wait_for_health(daemon: &Daemon, health: &str) -> Timestamp {
    let view = eventually(10, async || {
        let view = check_view(daemon, "web").await;
        (view["health"] == health).then_some(view)
    })
    .await;
    view["since"]
        .as_str()
        .and_then(|since| since.parse().ok())
        .unwrap_or_else(|| panic!("no `since` in {view}"))
}

fn at(entry: &Value) -> Timestamp {
    entry["at"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .unwrap_or_else(|| panic!("no `at` in {entry}"))
}

#[tokio::test]
async fn a_full_disk_answers_507_with_the_reason_and_keeps_the_health_changes_for_later() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let disk = SmallDisk::mount(&data, "4m");
    let target = Switchable::start(200).await;
    std::fs::write(temp.path().join("plan.toml"), plan(&target.url())).expect("plan");
    let mut daemon = Daemon::start_in(temp.path()).await;
    wait_for_health(&daemon, "healthy").await;
    let (status, body) = note(&daemon, "Written before the disk filled up").await;
    assert_eq!(status, 201, "{body}");

    let (filler, status, body) = fill_until_writes_fail(&daemon, &disk).await;
    assert_eq!(status, 507, "{body}");
    let reason = body["error"].as_str().unwrap_or_default();
    for words in ["disk", "is full", "free space", "nothing was recorded"] {
        assert!(reason.contains(words), "`{words}` missing from: {reason}");
    }
    assert!(
        reason.contains(&data.display().to_string()),
        "the reason names the data directory: {reason}"
    );
    // Other writes say the same, a write without a token is still refused for that, and reads work.
    let (status, body) = daemon
        .post(
            "/api/v1/actions",
            json!({ "title": "Free disk space", "owner": "bob" }),
        )
        .await;
    assert_eq!(status, 507, "{body}");
    let (_, body) = daemon.get("/api/v1/actions").await;
    assert_eq!(
        body["actions"],
        json!([]),
        "a refused write changes nothing"
    );
    let (status, body) = daemon
        .send(
            reqwest::Method::POST,
            "/api/v1/log",
            json!({ "kind": "note", "text": "no token" }),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = daemon.get("/api/v1/log?kind=note&order=asc&limit=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["entries"][0]["text"], "Written before the disk filled up",
        "{body}"
    );
    let (status, body) = daemon.get("/api/v1/status").await;
    assert_eq!(status, 200, "{body}");

    // The check fails and recovers while nothing can be written.
    target.set(503);
    let failing_since = wait_for_health(&daemon, "failing").await;
    target.set(200);
    let healthy_since = wait_for_health(&daemon, "healthy").await;
    assert_eq!(
        metric(&daemon, "golive_log_entries_pending").await,
        Some(2.0),
        "both health changes wait in memory"
    );
    let (_, body) = daemon.get("/api/v1/log?kind=check").await;
    assert_eq!(body["entries"], json!([]), "nothing could be written yet");

    let freed = Timestamp::now();
    std::fs::remove_file(&filler).expect("remove filler");
    let entries = eventually(30, async || {
        let (_, body) = daemon.get("/api/v1/log?kind=check&order=asc").await;
        let entries = body["entries"].as_array().cloned().unwrap_or_default();
        (entries.len() >= 2).then_some(entries)
    })
    .await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    let texts: Vec<&str> = entries
        .iter()
        .map(|entry| entry["text"].as_str().unwrap_or_default())
        .collect();
    assert!(
        texts[0].starts_with("Check `web` (Shop front, critical) is failing"),
        "{texts:?}"
    );
    assert_eq!(texts[1], "Check `web` (Shop front) is healthy again");
    // The store keeps milliseconds.
    assert_eq!(
        at(&entries[0]).as_millisecond(),
        failing_since.as_millisecond(),
        "the failure's own time"
    );
    assert_eq!(
        at(&entries[1]).as_millisecond(),
        healthy_since.as_millisecond(),
        "the recovery's own time"
    );
    assert!(
        at(&entries[1]) < freed,
        "written late, dated when it happened"
    );
    eventually(10, async || {
        (metric(&daemon, "golive_log_entries_pending").await == Some(0.0)).then_some(())
    })
    .await;

    // Writes work again, and nothing stored before the trouble was lost.
    let (status, body) = note(&daemon, "Disk cleaned up").await;
    assert_eq!(status, 201, "{body}");
    daemon.terminate();
    let database = open_database(temp.path());
    let integrity: String = database
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity check");
    assert_eq!(integrity, "ok");
    let before: i64 = database
        .query_row(
            "SELECT count(*) FROM log WHERE text = 'Written before the disk filled up'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(before, 1);
}

#[tokio::test]
async fn a_note_written_as_the_disk_frees_up_follows_the_health_changes_that_waited() {
    let temp = tempfile::tempdir().expect("temp dir");
    let disk = SmallDisk::mount(&temp.path().join("data"), "4m");
    let target = Switchable::start(200).await;
    std::fs::write(temp.path().join("plan.toml"), plan(&target.url())).expect("plan");
    let daemon = Daemon::start_in(temp.path()).await;
    wait_for_health(&daemon, "healthy").await;
    let (filler, status, body) = fill_until_writes_fail(&daemon, &disk).await;
    assert_eq!(status, 507, "{body}");
    target.set(503);
    wait_for_health(&daemon, "failing").await;
    target.set(200);
    wait_for_health(&daemon, "healthy").await;

    std::fs::remove_file(&filler).expect("remove filler");
    let (status, body) = note(&daemon, "Disk cleaned up").await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = daemon.get("/api/v1/log?kind=check,note&limit=3").await;
    let entries = body["entries"].as_array().cloned().unwrap_or_default();
    // Newest first on the wire; oldest first here.
    let texts: Vec<&str> = entries
        .iter()
        .rev()
        .map(|entry| entry["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts.len(), 3, "{body}");
    assert!(texts[0].contains("is failing"), "{texts:?}");
    assert!(texts[1].contains("is healthy again"), "{texts:?}");
    assert_eq!(texts[2], "Disk cleaned up");
    drop(daemon);
    drop(disk);
}
