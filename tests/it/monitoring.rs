//! Monitoring through the real daemon: check health from probe results, reasons, metrics, the
//! go/no-go gate, phase-dependent intervals, unknown-vs-failing, and history across restarts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon, eventually, open_database};
use crate::plans::{HttpCheck, http_check, unreachable_prometheus_check};

/// A loopback HTTP service whose health endpoint answers the status the test sets.
pub struct Switchable {
    pub address: SocketAddr,
    status: Arc<AtomicU16>,
    _server: tokio::task::JoinHandle<()>,
}

impl Switchable {
    pub async fn start(status: u16) -> Switchable {
        let shared = Arc::new(AtomicU16::new(status));
        let state = shared.clone();
        let app = Router::new().route(
            "/health",
            get(move || {
                let state = state.clone();
                async move {
                    let code = state.load(Ordering::Relaxed);
                    let status =
                        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    (status, if status.is_success() { "ok" } else { "down" })
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Switchable {
            address,
            status: shared,
            _server: server,
        }
    }

    pub fn set(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    pub fn url(&self) -> String {
        format!("http://{}/health", self.address)
    }
}

/// The base plan with extra TOML appended (checks and friends).
fn plan_with(extra: &str) -> String {
    format!("{BASE_PLAN}\n{extra}")
}

/// The shared fast http check, named `Shop <id>`.
fn shop_check(id: &str, url: &str) -> HttpCheck {
    http_check(id, url).named(&format!("Shop {id}"))
}

pub(crate) async fn check_view(daemon: &Daemon, id: &str) -> Value {
    let (_, body) = daemon.get("/api/v1/checks").await;
    body["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

pub(crate) async fn metric(daemon: &Daemon, series: &str) -> Option<f64> {
    let (_, text) = daemon.get_text("/metrics").await;
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn a_failing_endpoint_turns_the_check_failing_with_its_reason_in_api_metrics_and_log() {
    let target = Switchable::start(200).await;
    let daemon = Daemon::start(&plan_with(&shop_check("web", &target.url()).to_string())).await;
    eventually(10, async || {
        (check_view(&daemon, "web").await["health"] == "healthy").then_some(())
    })
    .await;
    assert_eq!(
        metric(&daemon, "golive_check_up{check=\"web\"}").await,
        Some(1.0)
    );

    target.set(503);
    let view = eventually(10, async || {
        let view = check_view(&daemon, "web").await;
        (view["health"] == "failing").then_some(view)
    })
    .await;
    assert_eq!(
        view["last"]["reason"], "status 503 (expected 2xx)",
        "{view}"
    );
    assert_eq!(
        metric(&daemon, "golive_check_up{check=\"web\"}").await,
        Some(0.0)
    );
    assert_eq!(
        metric(
            &daemon,
            "golive_check_state{check=\"web\",state=\"failing\"}"
        )
        .await,
        Some(1.0)
    );
    assert!(
        metric(
            &daemon,
            "golive_check_results_total{check=\"web\",result=\"failing\"}"
        )
        .await
            >= Some(2.0)
    );
    let (_, log) = daemon.get("/api/v1/log?kind=check").await;
    let entry = &log["entries"][0];
    assert_eq!(entry["data"]["to"], "failing");
    assert!(
        entry["text"].as_str().unwrap().contains("status 503"),
        "{entry}"
    );

    let (_, status) = daemon.get("/api/v1/status").await;
    assert_eq!(status["checks"]["failing"], 1);

    target.set(200);
    eventually(10, async || {
        (check_view(&daemon, "web").await["health"] == "healthy").then_some(())
    })
    .await;
    let (_, log) = daemon.get("/api/v1/log?kind=check").await;
    assert!(
        log["entries"][0]["text"]
            .as_str()
            .unwrap()
            .contains("healthy again")
    );

    let (status, detail) = daemon.get("/api/v1/checks/web").await;
    assert_eq!(status, 200);
    assert!(detail["check"]["recent"].as_array().unwrap().len() >= 4);
    let (status, missing) = daemon.get("/api/v1/checks/wbe").await;
    assert_eq!(status, 404);
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("did you mean `web`")
    );
}

#[tokio::test]
async fn a_gate_check_blocks_leaving_go_no_go_until_it_is_healthy() {
    let target = Switchable::start(500).await;
    let daemon = Daemon::start(&plan_with(
        &shop_check("web", &target.url())
            .with("gate = true")
            .to_string(),
    ))
    .await;
    daemon.post("/api/v1/phase", json!({})).await;
    for item in ["backup", "signoff"] {
        daemon
            .post(&format!("/api/v1/checklist/{item}/confirm"), json!({}))
            .await;
    }
    eventually(10, async || {
        (check_view(&daemon, "web").await["health"] == "failing").then_some(())
    })
    .await;
    let (status, body) = daemon.post("/api/v1/phase", json!({})).await;
    assert_eq!(status, 409, "{body}");
    let blocker = &body["blockers"][0];
    assert_eq!(blocker["kind"], "check");
    assert!(
        blocker["message"]
            .as_str()
            .unwrap()
            .contains("gate check `web`"),
        "{blocker}"
    );
    assert!(
        blocker["message"].as_str().unwrap().contains("status 500"),
        "{blocker}"
    );

    target.set(200);
    eventually(10, async || {
        (check_view(&daemon, "web").await["health"] == "healthy").then_some(())
    })
    .await;
    let (status, body) = daemon.post("/api/v1/phase", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phase"], "deploying");
}

#[tokio::test]
async fn a_phase_change_switches_intervals_and_active_checks_at_once() {
    let target = Switchable::start(200).await;
    let checks = format!(
        r#"
[[checks]]
id = "deploy-only"
kind = "http"
url = "{url}"
interval = "200ms"
timeout = "150ms"
phases = ["deploying"]

[[checks]]
id = "slow-then-fast"
kind = "http"
url = "{url}"
interval = "10s"
intervals = {{ deploying = "200ms" }}
timeout = "150ms"
phases = ["planned", "go_no_go", "deploying"]

[[checks]]
id = "planned-only"
kind = "http"
url = "{url}"
interval = "200ms"
timeout = "150ms"
phases = ["planned"]
"#,
        url = target.url()
    );
    let daemon = Daemon::start(&plan_with(&checks)).await;
    let results = |id: &'static str| {
        let daemon = &daemon;
        async move {
            metric(
                daemon,
                &format!("golive_check_results_total{{check=\"{id}\",result=\"healthy\"}}"),
            )
            .await
            .unwrap_or_else(|| panic!("no results counted for {id}"))
        }
    };
    // Planned: the slow check has probed once (its first probe comes within a second); the
    // deploy-only check, with the same interval as the planned-only one, not at all while that
    // one probed three times.
    eventually(10, async || {
        (results("slow-then-fast").await >= 1.0 && results("planned-only").await >= 3.0)
            .then_some(())
    })
    .await;
    assert_eq!(results("deploy-only").await, 0.0);
    let slow_before = results("slow-then-fast").await;
    assert_eq!(slow_before, 1.0, "one probe of a 10 s interval");
    assert_eq!(check_view(&daemon, "deploy-only").await["active"], false);

    daemon
        .post("/api/v1/phase", json!({"force": true, "reason": "test"}))
        .await;
    daemon
        .post("/api/v1/phase", json!({"force": true, "reason": "test"}))
        .await;
    assert_eq!(daemon.get("/api/v1/status").await.1["phase"], "deploying");
    // Both now probe every 200 ms: within a few seconds each has several results.
    eventually(10, async || {
        (results("deploy-only").await >= 5.0).then_some(())
    })
    .await;
    eventually(10, async || {
        (results("slow-then-fast").await >= slow_before + 5.0).then_some(())
    })
    .await;
    assert_eq!(
        check_view(&daemon, "slow-then-fast").await["interval_seconds"],
        0.2
    );
}

#[tokio::test]
async fn an_unreachable_prometheus_makes_a_check_unknown_never_failing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let extra = unreachable_prometheus_check(closed, &["planned", "go_no_go"]);
    let daemon = Daemon::start(&plan_with(&extra)).await;
    let view = eventually(10, async || {
        let view = check_view(&daemon, "error-rate").await;
        (view["health"] == "unknown" && !view["last"].is_null()).then_some(view)
    })
    .await;
    assert!(
        view["last"]["reason"]
            .as_str()
            .unwrap()
            .contains("prometheus unreachable"),
        "{view}"
    );
    // Three probes later it is still unknown, never once failing.
    let unknown = "golive_check_results_total{check=\"error-rate\",result=\"unknown\"}";
    let seen = metric(&daemon, unknown)
        .await
        .expect("unknown results counted");
    eventually(10, async || {
        (metric(&daemon, unknown).await? >= seen + 3.0).then_some(())
    })
    .await;
    assert_eq!(check_view(&daemon, "error-rate").await["health"], "unknown");
    assert_eq!(
        metric(
            &daemon,
            "golive_check_results_total{check=\"error-rate\",result=\"failing\"}"
        )
        .await,
        Some(0.0)
    );
    let (_, text) = daemon.get_text("/metrics").await;
    assert!(
        text.contains("golive_check_up{check=\"error-rate\"} NaN"),
        "{text}"
    );
    assert!(text.contains("golive_check_threshold{check=\"error-rate\"} 0.05"));
}

fn stored_probes(dir: &std::path::Path, check: &str) -> i64 {
    open_database(dir)
        .query_row(
            "SELECT COALESCE(SUM(probes), 0) FROM check_minutes WHERE check_id = ?1",
            [check],
            |row| row.get(0),
        )
        .unwrap()
}

#[tokio::test]
async fn minute_history_is_written_at_shutdown_and_adds_up_across_restarts() {
    let target = Switchable::start(200).await;
    let mut daemon = Daemon::start(&plan_with(&shop_check("web", &target.url()).to_string())).await;
    eventually(10, async || {
        (metric(
            &daemon,
            "golive_check_results_total{check=\"web\",result=\"healthy\"}",
        )
        .await
            >= Some(5.0))
        .then_some(())
    })
    .await;
    let counted = metric(
        &daemon,
        "golive_check_results_total{check=\"web\",result=\"healthy\"}",
    )
    .await
    .unwrap() as i64;
    assert!(daemon.terminate().success());
    let first = stored_probes(&daemon.dir, "web");
    assert!(
        (counted..=counted + 2).contains(&first),
        "stored {first}, counted {counted}"
    );

    let dir = daemon.dir.clone();
    let mut restarted = Daemon::start_in(&dir).await;
    eventually(10, async || {
        (metric(
            &restarted,
            "golive_check_results_total{check=\"web\",result=\"healthy\"}",
        )
        .await
            >= Some(3.0))
        .then_some(())
    })
    .await;
    let (_, detail) = restarted.get("/api/v1/checks/web?minutes=5").await;
    let history = detail["history"].as_array().unwrap();
    let shown: i64 = history
        .iter()
        .map(|minute| minute["probes"].as_i64().unwrap())
        .sum();
    assert!(
        shown >= first,
        "the API shows the history written before the restart: {detail}"
    );
    assert!(
        history
            .iter()
            .all(|minute| minute["latency_ms"]["p50"].is_number())
    );
    let again = metric(
        &restarted,
        "golive_check_results_total{check=\"web\",result=\"healthy\"}",
    )
    .await
    .unwrap() as i64;
    assert!(restarted.terminate().success());
    let second = stored_probes(&dir, "web");
    assert!(
        second >= first + again,
        "{second} < {first} + {again}: a restart must add, not replace"
    );
    drop(daemon);
}

/// A TCP service that accepts connections and never answers (the classic hung backend); each
/// connection is held until the client gives up.
async fn hanging_target() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buffer = [0u8; 1024];
                // Read the request and everything after it, answering nothing, until the client
                // closes.
                while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {}
            });
        }
    });
    address
}

#[tokio::test]
async fn a_thousand_hanging_targets_stay_within_the_concurrency_bound_and_do_not_starve_others() {
    let hung = hanging_target().await;
    let healthy = Switchable::start(200).await;
    let mut checks = String::from("[monitoring]\nmax_concurrent_probes = 100\n");
    checks.push_str(
        &shop_check("healthy", &healthy.url())
            .every("1s", "300ms")
            .to_string(),
    );
    for index in 0..1000 {
        checks.push_str(&format!(
            "\n[[checks]]\nid = \"hung-{index}\"\nkind = \"http\"\nurl = \"http://{hung}/health?i={index}\"\ninterval = \"1s\"\ntimeout = \"300ms\"\nphases = [\"planned\"]\n"
        ));
    }
    let daemon = Daemon::start(&plan_with(&checks)).await;
    let started = Instant::now();
    let mut highest = 0.0f64;
    while started.elapsed() < Duration::from_secs(4) {
        let in_flight = metric(&daemon, "golive_probes_in_flight")
            .await
            .expect("golive_probes_in_flight is exported");
        highest = highest.max(in_flight);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        highest <= 100.0,
        "{highest} probes in flight with a bound of 100"
    );
    assert!(
        highest >= 50.0,
        "the bound was not even approached ({highest}): is anything hanging?"
    );
    // The API stays responsive and the healthy check keeps being probed.
    let asked = Instant::now();
    let view = check_view(&daemon, "healthy").await;
    assert!(asked.elapsed() < Duration::from_secs(2));
    eventually(15, async || {
        (check_view(&daemon, "healthy").await["health"] == "healthy").then_some(())
    })
    .await;
    let hung_view = eventually(15, async || {
        let view = check_view(&daemon, "hung-7").await;
        (!view["last"].is_null()).then_some(view)
    })
    .await;
    assert_eq!(
        hung_view["last"]["reason"], "timeout after 300 ms",
        "{hung_view}"
    );
    drop(view);
}

// Multi-threaded: the targets must keep answering while the test thread waits for the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golive_probe_runs_the_checks_once_and_exits_by_their_health() {
    let up = Switchable::start(200).await;
    let down = Switchable::start(503).await;
    let temp = tempfile::tempdir().unwrap();
    let plan = plan_with(&format!(
        "{}{}",
        shop_check("up", &up.url()),
        shop_check("down", &down.url())
    ));
    std::fs::write(temp.path().join("plan.toml"), plan).unwrap();
    let (code, out, err) = crate::helpers::cli(temp.path(), &["probe", "plan.toml", "up"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("HEALTHY") && out.contains("1 of 1 checks healthy"),
        "{out}"
    );
    let (code, out, _) = crate::helpers::cli(temp.path(), &["probe", "plan.toml"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("status 503 (expected 2xx)"), "{out}");
    assert!(out.contains("1 of 2 checks healthy"), "{out}");
    let (code, _, err) = crate::helpers::cli(temp.path(), &["probe", "plan.toml", "dwn"]);
    assert_eq!(code, 64);
    assert!(err.contains("did you mean `down`"), "{err}");
    assert!(
        !temp.path().join("data").exists(),
        "a dry run must not create a store"
    );
}
