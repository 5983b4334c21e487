//! golive watched from outside (`[heartbeat]`): the real daemon calls a dead-man's-switch URL
//! every interval while it works and stops while its engine is wedged (through the test-only hook
//! `POST /api/v1/test/wedge-engine`, served with `GOLIVE_TEST_HOOKS=1`), and keeps an
//! always-firing `GoliveWatchdog` alert in a real Alertmanager that stops firing once golive is
//! killed.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use serde_json::{Value, json};

use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::notify::Alertmanager;

/// One call a [`PingReceiver`] got.
#[derive(Debug, Clone)]
pub struct Ping {
    pub method: Method,
    pub path: String,
}

/// A dead-man's-switch endpoint: records every call and answers with the status it is set to.
pub struct PingReceiver {
    pub base: String,
    pings: Arc<Mutex<Vec<Ping>>>,
    status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl PingReceiver {
    /// A receiver answering `status` to every call.
    pub async fn start(status: u16) -> PingReceiver {
        let pings = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let (recorder, answer) = (pings.clone(), status.clone());
        let app = Router::new().fallback(move |method: Method, uri: Uri| {
            let (recorder, answer) = (recorder.clone(), answer.clone());
            async move {
                recorder.lock().expect("pings").push(Ping {
                    method,
                    path: uri.path().to_string(),
                });
                StatusCode::from_u16(answer.load(Ordering::SeqCst))
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PingReceiver {
            base,
            pings,
            status,
            task,
        }
    }

    pub fn pings(&self) -> Vec<Ping> {
        self.pings.lock().expect("pings").clone()
    }

    pub fn count(&self) -> usize {
        self.pings.lock().expect("pings").len()
    }
}

impl Drop for PingReceiver {
    fn drop(&mut self) {
        self.status.store(500, Ordering::SeqCst);
        self.task.abort();
    }
}

/// The value of one series on the daemon's `/metrics`, e.g.
/// `golive_component_stuck{component="engine"}`; `None` when it is not there.
pub async fn metric(daemon: &Daemon, series: &str) -> Option<f64> {
    let (status, text) = daemon.get_text("/metrics").await;
    assert_eq!(status, 200);
    metric_in(&text, series)
}

/// As [`metric`], on exposition text already fetched.
pub fn metric_in(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// The token part of the heartbeat URL: it must never show up in golive's log.
const PING_TOKEN: &str = "3f1c9e7a-token-in-the-path";

#[tokio::test]
async fn the_heartbeat_calls_its_url_while_golive_works_and_stops_while_the_engine_is_wedged() {
    let receiver = PingReceiver::start(200).await;
    let url = format!("{}/ping/{PING_TOKEN}", receiver.base);
    let plan = format!(
        "{BASE_PLAN}\n[heartbeat]\nurl = {{ env = \"GOLIVE_TEST_HEARTBEAT_URL\" }}\nmethod = \"POST\"\ninterval = \"1s\"\n"
    );
    let daemon = Daemon::start_with_env(
        &plan,
        &[
            ("GOLIVE_TEST_HOOKS", "1"),
            ("GOLIVE_TEST_HEARTBEAT_URL", url.as_str()),
        ],
    )
    .await;

    // While golive works: a POST to the URL every second, counted as ok.
    eventually(15, async || (receiver.count() >= 3).then_some(())).await;
    let pings = receiver.pings();
    assert!(
        pings
            .iter()
            .all(|ping| ping.method == Method::POST && ping.path == format!("/ping/{PING_TOKEN}")),
        "{pings:?}"
    );
    assert!(metric(&daemon, "golive_heartbeat_total{result=\"ok\"}").await >= Some(3.0));
    assert!(metric(&daemon, "golive_heartbeat_last_success_timestamp_seconds").await > Some(0.0));
    assert_eq!(
        metric(&daemon, "golive_component_stuck{component=\"engine\"}").await,
        Some(0.0)
    );

    // The hook needs a write token.
    let (status, _) = daemon
        .send(
            reqwest::Method::POST,
            "/api/v1/test/wedge-engine",
            json!({"seconds": 1}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = daemon
        .post("/api/v1/test/wedge-engine", json!({"seconds": 0}))
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("seconds")));

    // Wedge the engine: once its loop has not turned for 10 s, golive says so and stops calling.
    let (status, _) = daemon
        .post("/api/v1/test/wedge-engine", json!({"seconds": 18}))
        .await;
    assert_eq!(status, 202);
    eventually(30, async || {
        (metric(&daemon, "golive_heartbeat_total{result=\"skipped\"}").await >= Some(1.0))
            .then_some(())
    })
    .await;
    assert_eq!(
        metric(&daemon, "golive_component_stuck{component=\"engine\"}").await,
        Some(1.0)
    );
    assert_eq!(
        metric(&daemon, "golive_component_stuck{component=\"dispatcher\"}").await,
        Some(0.0)
    );
    let calls_when_stuck = receiver.count();
    // Three more intervals pass without a call while the engine stays stuck.
    eventually(10, async || {
        (metric(&daemon, "golive_heartbeat_total{result=\"skipped\"}").await >= Some(4.0))
            .then_some(())
    })
    .await;
    assert_eq!(
        metric(&daemon, "golive_component_stuck{component=\"engine\"}").await,
        Some(1.0),
        "the engine recovered too early for this test to mean anything"
    );
    assert_eq!(receiver.count(), calls_when_stuck, "called while stuck");

    // Once the engine turns again, the calls resume.
    eventually(30, async || {
        (receiver.count() > calls_when_stuck).then_some(())
    })
    .await;
    assert_eq!(
        metric(&daemon, "golive_component_stuck{component=\"engine\"}").await,
        Some(0.0)
    );
    let log = daemon.log();
    assert!(log.contains("golive is stuck"), "{log}");
    assert!(
        !log.contains(PING_TOKEN),
        "the heartbeat URL's token is in the log"
    );
}

#[tokio::test]
async fn the_test_hooks_do_not_exist_without_their_environment_variable() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (status, _) = daemon
        .post("/api/v1/test/wedge-engine", json!({"seconds": 1}))
        .await;
    assert_eq!(status, 404);
}

/// The Alertmanager's active `GoliveWatchdog` alerts.
async fn active_watchdogs(alertmanager: &Alertmanager) -> Vec<Value> {
    let alerts: Value = reqwest::get(format!("{}/api/v2/alerts", alertmanager.url))
        .await
        .expect("alerts")
        .json()
        .await
        .expect("json");
    alerts
        .as_array()
        .expect("a list")
        .iter()
        .filter(|alert| {
            alert["labels"]["alertname"] == "GoliveWatchdog" && alert["status"]["state"] == "active"
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_watchdog_alert_fires_in_a_real_alertmanager_while_golive_runs_and_not_after_kill_9() {
    let alertmanager = Alertmanager::start().await;
    let plan = format!(
        "{BASE_PLAN}\n[[channels]]\nid = \"am\"\nkind = \"alertmanager\"\nurl = \"{}\"\n\n[heartbeat]\ninterval = \"1s\"\nalertmanager = [\"am\"]\n",
        alertmanager.url
    );
    let mut daemon = Daemon::start(&plan).await;

    let watchdog = eventually(15, async || {
        active_watchdogs(&alertmanager).await.into_iter().next()
    })
    .await;
    assert_eq!(watchdog["labels"]["severity"], "none");
    assert_eq!(watchdog["labels"]["launch"], "Test shop");
    let summary = watchdog["annotations"]["summary"]
        .as_str()
        .unwrap_or_default();
    assert!(summary.contains("dead-man's switch"), "{summary}");
    assert!(
        summary.contains("absence means golive is down"),
        "{summary}"
    );
    // Re-posted every interval: it keeps firing well past its first three-interval lifetime.
    let first_end = watchdog["endsAt"].as_str().unwrap_or_default().to_string();
    eventually(15, async || {
        active_watchdogs(&alertmanager)
            .await
            .into_iter()
            .next()
            .filter(|alert| alert["endsAt"].as_str() > Some(first_end.as_str()))
    })
    .await;
    // A liveness signal, not a notification: nothing went through the outbox.
    assert_eq!(
        metric(
            &daemon,
            "golive_notifications_total{channel=\"am\",result=\"delivered\"}"
        )
        .await,
        Some(0.0)
    );
    assert_eq!(metric(&daemon, "golive_outbox_pending").await, Some(0.0));
    assert!(metric(&daemon, "golive_heartbeat_total{result=\"ok\"}").await >= Some(1.0));

    daemon.kill9();
    eventually(30, async || {
        active_watchdogs(&alertmanager)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_heartbeat_that_hangs_does_not_hold_up_a_clean_shutdown() {
    let switch = crate::targets::accept_and_hang().await;
    let plan = format!(
        "{BASE_PLAN}\n[heartbeat]\nurl = \"{}\"\ninterval = \"1h\"\ntimeout = \"1h\"\n",
        switch.url("/ping")
    );
    let mut daemon = Daemon::start(&plan).await;
    // The first heartbeat goes out at start and gets no answer.
    eventually(15, async || (switch.accepted() >= 1).then_some(())).await;
    let status = daemon.terminate();
    assert!(status.success(), "{status}");
}
