//! The Prometheus rule file for golive's own health (`dashboards/golive-rules.yml`): `promtool`
//! accepts it, and each of its rules fires in a real Prometheus that scrapes real golive daemons
//! put into the fault the rule is about (a chat webhook answering 500, a heartbeat URL answering
//! 500, a data directory on a full disk, a daemon killed). Also: the labelled metric families whose
//! label values the plan fixes exist with value 0 from the start, which is what lets `increase()`
//! in those rules see the first failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::heartbeat::{PingReceiver, metric_in};
use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::targets::{Prometheus, Reply, accept_and_hang, refused_address, serve};

fn rules_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboards/golive-rules.yml")
}

/// Runs `promtool check rules` on `path`; returns its output.
fn promtool_check_rules(path: &Path) -> String {
    let binary = "/usr/bin/promtool";
    assert!(
        Path::new(binary).exists(),
        "{binary} is missing: run scripts/test, or apt-get install prometheus"
    );
    let output = Command::new(binary)
        .args(["check", "rules"])
        .arg(path)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check rules failed:\n{text}"
    );
    text
}

/// The shipped rules with every `for:` set to `0s`, so a test sees a rule fire as soon as its
/// expression holds instead of waiting minutes. The expressions, labels and annotations are the
/// shipped ones, untouched.
fn rules_without_for(shipped: &str) -> String {
    shipped
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("for:") {
                format!("{}for: 0s", &line[..line.len() - trimmed.len()])
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_rule_file_passes_promtool_and_names_every_rule_with_a_severity_and_what_to_do() {
    let text = promtool_check_rules(&rules_path());
    assert!(text.contains("SUCCESS: 7 rules found"), "{text}");
    let shipped = std::fs::read_to_string(rules_path()).expect("read rules");
    for alert in [
        "GoliveDown",
        "GoliveAbsent",
        "GoliveComponentStuck",
        "GoliveOutboxStuck",
        "GoliveDeliveriesFailing",
        "GoliveStoreErrors",
        "GoliveHeartbeatFailing",
    ] {
        let rule = shipped
            .split("- alert: ")
            .find(|rule| rule.starts_with(alert))
            .unwrap_or_else(|| panic!("no rule {alert}"));
        for key in ["expr:", "for:", "severity:", "summary:", "description:"] {
            assert!(rule.contains(key), "{alert} has no {key}");
        }
    }
    // The rewritten copy the next test loads is valid too.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("rules.yml");
    std::fs::write(&copy, rules_without_for(&shipped)).expect("write copy");
    promtool_check_rules(&copy);
}

/// A tmpfs mounted for the test (a disk that can be filled), unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (the test needs root)",
            path.display()
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    /// Writes a file until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path.join("filler")).expect("filler");
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.flush();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Firing alerts as (alert name, instance, component), from Prometheus's `/api/v1/alerts`.
async fn firing(prometheus: &Prometheus) -> BTreeSet<(String, String, String)> {
    let answer: Value = reqwest::get(format!("{}/api/v1/alerts", prometheus.url))
        .await
        .expect("alerts")
        .json()
        .await
        .expect("json");
    answer["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|alert| alert["state"] == "firing")
        .map(|alert| {
            let label = |name: &str| {
                alert["labels"][name]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            (label("alertname"), label("instance"), label("component"))
        })
        .collect()
}

fn instance(daemon: &Daemon) -> String {
    daemon
        .url
        .strip_prefix("http://")
        .expect("http url")
        .to_string()
}

fn alert(name: &str, instance: &str, component: &str) -> (String, String, String) {
    (
        name.to_string(),
        instance.to_string(),
        component.to_string(),
    )
}

#[tokio::test]
async fn every_rule_fires_in_a_real_prometheus_for_the_real_fault_it_describes() {
    // Daemon A: a critical alert whose only channel answers 500, and a heartbeat URL that does too.
    let chat = PingReceiver::start(500).await;
    let heartbeat = PingReceiver::start(500).await;
    let down = refused_address().await;
    let plan_a = format!(
        r#"{BASE_PLAN}
[[checks]]
id = "db"
kind = "tcp"
address = "{down}"
severity = "critical"
interval = "500ms"
timeout = "400ms"
failure_threshold = 1
phases = ["planned", "go_no_go", "deploying", "verifying", "hypercare"]

[[channels]]
id = "chat"
kind = "webhook"
url = "{}/hook"
timeout = "2s"

[[escalation]]
id = "page"
levels = [{{ notify = ["ops_lead"], channels = ["chat"] }}]

[alerting]
policies = {{ critical = "page" }}

[heartbeat]
url = "{}/ping"
interval = "1s"
"#,
        chat.base, heartbeat.base
    );
    let mut daemon_a = Daemon::start(&plan_a).await;

    // Daemon B: its data directory on a 2 MB disk that is then filled, and a check that flips
    // between healthy and failing on every probe, so golive keeps writing health changes.
    let folder_b = tempfile::tempdir().expect("temp dir");
    let disk = Tmpfs::mount(&folder_b.path().join("data"), "2m");
    let probes = Arc::new(AtomicUsize::new(0));
    let counter = probes.clone();
    let flapping = serve(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Reply::ok("ok")
        } else {
            Reply::status(500, "down")
        }
    })
    .await;
    let plan_b = format!(
        r#"{BASE_PLAN}
[[checks]]
id = "web"
kind = "http"
url = "{}"
interval = "200ms"
timeout = "150ms"
failure_threshold = 1
phases = ["planned", "go_no_go", "deploying", "verifying", "hypercare"]
"#,
        flapping.url("/health")
    );
    std::fs::write(folder_b.path().join("plan.toml"), plan_b).expect("write plan");
    let daemon_b = Daemon::start_in(folder_b.path()).await;
    disk.fill();

    let shipped = std::fs::read_to_string(rules_path()).expect("read rules");
    let rules = rules_without_for(&shipped);
    let (a, b) = (instance(&daemon_a), instance(&daemon_b));
    let prometheus = Prometheus::start_with(
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: golive\n    static_configs:\n      - targets: ['{a}', '{b}']\n"
        ),
        &[("rules.yml", rules.as_str())],
    )
    .await;

    let expected = [
        alert("GoliveDeliveriesFailing", &a, ""),
        alert("GoliveOutboxStuck", &a, ""),
        alert("GoliveHeartbeatFailing", &a, ""),
        alert("GoliveStoreErrors", &b, ""),
        alert("GoliveComponentStuck", &b, "store"),
    ];
    let seen = eventually(90, async || {
        let seen = firing(&prometheus).await;
        expected
            .iter()
            .all(|alert| seen.contains(alert))
            .then_some(seen)
    })
    .await;
    // Each rule fires only where its fault is.
    for (name, instance, _) in &seen {
        let faulty = match name.as_str() {
            "GoliveDeliveriesFailing" | "GoliveOutboxStuck" | "GoliveHeartbeatFailing" => &a,
            "GoliveStoreErrors" | "GoliveComponentStuck" => &b,
            // Before the first scrape `absent(up)` holds (its `for:` is rewritten to 0 s here).
            "GoliveAbsent" => {
                assert!(instance.is_empty(), "GoliveAbsent names {instance}");
                continue;
            }
            other => panic!("unexpected alert {other}"),
        };
        assert_eq!(instance, faulty, "{name} fired for the wrong daemon");
    }
    let (_, metrics) = daemon_a.get_text("/metrics").await;
    assert!(
        metric_in(&metrics, "golive_outbox_oldest_pending_seconds") > Some(30.0),
        "{metrics}"
    );
    assert!(metric_in(&metrics, "golive_store_errors_total") == Some(0.0));
    assert!(chat.count() >= 1 && heartbeat.count() >= 1);

    daemon_a.kill9();
    eventually(30, async || {
        firing(&prometheus)
            .await
            .contains(&alert("GoliveDown", &a, ""))
            .then_some(())
    })
    .await;
    assert!(
        !firing(&prometheus)
            .await
            .contains(&alert("GoliveDown", &b, ""))
    );
    drop(daemon_b);
    drop(disk);
}

#[tokio::test]
async fn a_fresh_daemon_exports_every_labelled_family_the_plan_fixes_at_zero() {
    // The first heartbeat goes out at start; this switch never answers it, so no heartbeat
    // result is counted while the test looks.
    let switch = accept_and_hang().await;
    let plan = format!(
        r#"{BASE_PLAN}
[[channels]]
id = "mail"
kind = "email"

[[channels]]
id = "chat"
kind = "webhook"
url = "http://127.0.0.1:9/hook"

[[escalation]]
id = "page"
levels = [{{ notify = ["ops_lead"], channels = ["mail", "chat"] }}]

[alerting]
policies = {{ critical = "page" }}

[reports]
to = ["alice"]

[heartbeat]
url = "{}"
interval = "1h"
timeout = "1h"
"#,
        switch.url("/ping")
    );
    let daemon = Daemon::start(&plan).await;
    let (_, text) = daemon.get_text("/metrics").await;
    let mut missing = Vec::new();
    let mut series = Vec::new();
    for channel in ["mail", "chat"] {
        for result in ["delivered", "retry", "failed"] {
            series.push(format!(
                "golive_notifications_total{{channel=\"{channel}\",result=\"{result}\"}}"
            ));
        }
    }
    for severity in ["info", "warning", "critical"] {
        series.push(format!(
            "golive_alerts_opened_total{{severity=\"{severity}\"}}"
        ));
    }
    for kind in ["daily", "final"] {
        for result in ["sent", "failed", "no_recipients"] {
            series.push(format!(
                "golive_reports_total{{kind=\"{kind}\",result=\"{result}\"}}"
            ));
        }
    }
    for result in ["ok", "failed", "skipped"] {
        series.push(format!("golive_heartbeat_total{{result=\"{result}\"}}"));
    }
    for component in ["engine", "dispatcher", "store"] {
        series.push(format!(
            "golive_component_stuck{{component=\"{component}\"}}"
        ));
    }
    for kind in ["check", "alert", "note"] {
        series.push(format!("golive_log_entries_total{{kind=\"{kind}\"}}"));
    }
    series.push("golive_outbox_oldest_pending_seconds".to_string());
    for name in &series {
        if metric_in(&text, name) != Some(0.0) {
            missing.push(name.clone());
        }
    }
    assert!(missing.is_empty(), "not at 0: {missing:?}\n{text}");
    // A channel the plan does not have is not invented.
    assert!(!text.contains("channel=\"rollback-hook\""), "{text}");
}
