//! The daemon on PostgreSQL, end to end: the real golive binary keeps its state in a database of
//! the throw-away cluster (`postgres.rs`), pages through a real SMTP server (aiosmtpd), and after
//! `kill -9` and a restart carries on from the database: the open alert is still open and its page
//! is not sent again.

use std::time::Duration;

use crate::alerting::{Receiver, open_alert};
use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::monitoring::Switchable;
use crate::plans::{channels, http_check, page_policy};
use crate::smtp::{SmtpOptions, SmtpServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_on_postgres_pages_by_email_and_after_kill_9_keeps_its_alert_without_paging_again()
{
    // The cluster trusts loopback, so the password is never asked for: it is there to be hidden.
    let database =
        crate::postgres::database_url().replacen("golive@", "golive:launch-night-secret@", 1);
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let check = http_check("shop", &target.url())
        .named("Shop front page")
        .failing_after(Some(1))
        .in_phases(&["planned"]);
    let plan = format!(
        "{BASE_PLAN}{check}{}{}",
        channels(smtp.port, &hook.url, "30s"),
        page_policy()
            .level("0s", &["bob"], &["email"])
            .repeat("1h")
            .alerting(crate::ha::SHARED_LINKS),
    );
    let env = [
        ("GOLIVE_DATABASE_URL", database.as_str()),
        ("GOLIVE_ACK_SECRET", "the-same-key-on-every-member"),
    ];
    let mut daemon = Daemon::start_with_env(&plan, &env).await;
    target.set(503);
    let page = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(page[0].recipients, ["bob@example.com"]);
    let alert = open_alert(&daemon).await;
    let id = alert["id"].as_i64().expect("an alert id");
    // The page's delivery is recorded before the kill (a kill between the SMTP server accepting
    // and golive recording would send it again: delivery is at least once, by design).
    eventually(10, async || {
        let (_, detail) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
        let rows = detail["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (!rows.is_empty() && rows.iter().all(|row| row["status"] == "delivered")).then_some(())
    })
    .await;
    assert!(
        !daemon.dir.join("data/golive.db").exists(),
        "the state went to PostgreSQL, not to SQLite"
    );
    let log = daemon.log();
    assert!(!log.contains("launch-night-secret"), "{log}");
    assert!(log.contains("golive:***@127.0.0.1"), "{log}");
    daemon.kill9();

    let dir = daemon.dir.clone();
    let daemon = Daemon::start_in_with_env(&dir, &env).await;
    let (_, alerts) = daemon.get("/api/v1/alerts?state=open").await;
    let open: Vec<i64> = alerts["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|alert| alert["id"].as_i64())
        .collect();
    assert_eq!(open, [id], "the alert is still open, with its id");
    // Something that must come after any page sent again: the resolution.
    target.set(200);
    let messages = smtp.wait_for(2, Duration::from_secs(15)).await;
    let subjects: Vec<String> = messages
        .iter()
        .map(|message| message.email.subject.clone())
        .collect();
    assert!(subjects[1].starts_with("[RESOLVED] "), "{subjects:?}");
    eventually(10, async || {
        let (_, detail) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
        let rows = detail["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (rows.len() == 2 && rows.iter().all(|row| row["status"] == "delivered")).then_some(())
    })
    .await;
    assert_eq!(
        smtp.messages().len(),
        2,
        "the page was not sent again: {subjects:?}"
    );
    // `golive report preview` reads the same database beside the running daemon.
    let preview = std::process::Command::new(env!("CARGO_BIN_EXE_golive"))
        .current_dir(&dir)
        .env("GOLIVE_DATABASE_URL", &database)
        .args([
            "report",
            "preview",
            "--plan",
            "plan.toml",
            "--format",
            "text",
        ])
        .output()
        .expect("golive report preview");
    let text = String::from_utf8_lossy(&preview.stdout);
    assert!(
        preview.status.success(),
        "{}",
        String::from_utf8_lossy(&preview.stderr)
    );
    assert!(text.contains("Shop front page"), "{text}");
}

#[test]
fn golive_run_refuses_a_database_url_of_another_kind_and_never_prints_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("plan.toml"), BASE_PLAN).expect("write plan");
    let golive = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_golive"));
        command.current_dir(dir.path()).env(
            "GOLIVE_DATABASE_URL",
            "mysql://root:s3cret-db@db.example/launch",
        );
        command
    };
    let refused = golive()
        .args(["run", "plan.toml", "--listen", "127.0.0.1:0"])
        .output()
        .expect("golive run");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("must start with postgres://"), "{stderr}");
    assert!(stderr.contains("`mysql`"), "{stderr}");
    assert!(!stderr.contains("s3cret-db"), "{stderr}");
    let help = golive()
        .args(["run", "--help"])
        .output()
        .expect("golive run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--database-url"), "{help}");
    assert!(!help.contains("s3cret-db"), "{help}");
}

#[test]
fn golive_run_on_postgres_refuses_a_plan_without_a_shared_ack_link_secret_and_public_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("plan.toml"), BASE_PLAN).expect("write plan");
    let stderr_file = dir.path().join("stderr.txt");
    let mut golive = std::process::Command::new(env!("CARGO_BIN_EXE_golive"))
        .current_dir(dir.path())
        .env("GOLIVE_DATABASE_URL", crate::postgres::database_url())
        .args(["run", "plan.toml", "--listen", "127.0.0.1:0"])
        .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
        .spawn()
        .expect("golive run");
    // A daemon that started anyway would run on: it is stopped, and the test fails.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = golive.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = golive.kill();
            let _ = golive.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    assert!(status.is_some_and(|status| !status.success()), "{stderr}");
    assert!(
        stderr.contains("needs `ack_link_secret` and `public_url`"),
        "{stderr}"
    );
    assert!(stderr.contains("load balancer"), "{stderr}");
    assert!(stderr.contains("/readyz"), "{stderr}");
}
