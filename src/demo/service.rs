//! The built-in demo service: the "web shop" the demo launches, on a loopback port.
//!
//! It answers what a real service would give golive to watch: `GET /healthz` (JSON status),
//! `GET /metrics` (a request counter by status code in the Prometheus text format) and
//! `POST /webhook` (a chat webhook receiver that logs every message golive posts, one JSON line
//! per message in `webhooks.log`) and `POST /pagerduty/v2/enqueue` (a PagerDuty-shaped pager:
//! the Events API v2 checked as PagerDuty documents it, answered as PagerDuty answers, logged
//! there too). How it behaves is switched in-process by the scenario:
//! [`Behaviour::Healthy`] or [`Behaviour::Degraded`] (a quarter of the requests fail and every
//! other health answer is a 503).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use jiff::Timestamp;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;

/// Requests per second the shop serves (the counters grow at this pace, in real time).
const REQUESTS_PER_SECOND: f64 = 40.0;
/// The share of requests that fail while degraded (the check's threshold is 5 %).
const DEGRADED_ERROR_SHARE: f64 = 0.25;

/// How the service behaves; switched by the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Healthy,
    /// A quarter of the requests answer 500; the health endpoint flaps (every other answer 503).
    Degraded,
}

/// A message golive posted to the webhook receiver or the pager.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The chat line (`text` of the slack format), or the raw body for anything else; for the
    /// pager, what the incident became (`trigger golive-web-shop-2-0-1: [CRITICAL] ...`).
    pub text: String,
    /// Sent to the PagerDuty-shaped pager, not the team chat.
    pub pager: bool,
}

/// A handle on the running service.
#[derive(Clone)]
pub struct DemoService {
    address: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    version: Mutex<&'static str>,
    traffic: Mutex<Traffic>,
    health_answers: AtomicU64,
    webhooks_received: AtomicU64,
    webhook_log: PathBuf,
    webhooks: mpsc::UnboundedSender<Webhook>,
    clock: Arc<dyn Clock>,
}

/// The request counters, advanced lazily (on each scrape) by the time that passed on the demo's
/// clock: the shop keeps serving through a time-lapse night, so its request rate stays true
/// across the jump.
struct Traffic {
    since: Timestamp,
    ok: f64,
    errors: f64,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the demo service on 127.0.0.1: {0}")]
pub struct ServiceError(#[from] std::io::Error);

impl DemoService {
    /// Binds a free loopback port and serves until `stop`. Webhook messages are logged to
    /// `webhook_log` (stamped with the demo's `clock`) and sent to the returned receiver (for the
    /// narrative).
    pub async fn start(
        webhook_log: PathBuf,
        clock: Arc<dyn Clock>,
        stop: CancellationToken,
    ) -> Result<(DemoService, mpsc::UnboundedReceiver<Webhook>), ServiceError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (webhooks, received) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(Behaviour::Healthy),
            version: Mutex::new("1.9.4"),
            traffic: Mutex::new(Traffic {
                since: clock.now(),
                ok: 0.0,
                errors: 0.0,
            }),
            health_answers: AtomicU64::new(0),
            webhooks_received: AtomicU64::new(0),
            webhook_log,
            webhooks,
            clock,
        });
        let router = Router::new()
            .route("/", get(index))
            .route("/healthz", get(health))
            .route("/metrics", get(metrics))
            .route("/webhook", post(webhook))
            .route("/pagerduty/v2/enqueue", post(pagerduty))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "the demo service stopped with an error");
            }
        });
        Ok((DemoService { address, shared }, received))
    }

    /// Where it listens, e.g. `127.0.0.1:40123`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Switches how the service behaves from now on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        // The traffic so far is counted at the old error share first.
        if let Ok(mut traffic) = self.shared.traffic.lock() {
            let current = self.shared.current();
            traffic.advance(self.shared.clock.now(), current);
        }
        if let Ok(mut slot) = self.shared.behaviour.lock() {
            *slot = behaviour;
        }
    }

    /// The release the health endpoint reports (the demo "deploys" 2.0.0).
    pub fn set_version(&self, version: &'static str) {
        if let Ok(mut slot) = self.shared.version.lock() {
            *slot = version;
        }
    }

    /// How many webhook messages arrived so far.
    pub fn webhooks_received(&self) -> u64 {
        self.shared.webhooks_received.load(Ordering::SeqCst)
    }
}

impl Shared {
    fn current(&self) -> Behaviour {
        self.behaviour
            .lock()
            .map_or(Behaviour::Healthy, |behaviour| *behaviour)
    }
}

impl Traffic {
    /// Counts the requests served since the last call at the given behaviour's error share.
    fn advance(&mut self, now: Timestamp, behaviour: Behaviour) {
        let seconds = now.duration_since(self.since).as_secs_f64().max(0.0);
        let requests = seconds * REQUESTS_PER_SECOND;
        self.since = self.since.max(now);
        let share = match behaviour {
            Behaviour::Healthy => 0.0,
            Behaviour::Degraded => DEGRADED_ERROR_SHARE,
        };
        self.errors += requests * share;
        self.ok += requests * (1.0 - share);
    }
}

async fn index() -> &'static str {
    "golive demo service: GET /healthz, GET /metrics, POST /webhook, POST /pagerduty/v2/enqueue\n"
}

async fn health(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let answer = shared.health_answers.fetch_add(1, Ordering::SeqCst);
    let version = shared.version.lock().map_or("unknown", |version| *version);
    // Degraded, every other answer fails: a flapping endpoint, never three failures in a row.
    if shared.current() == Behaviour::Degraded && answer % 2 == 1 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "degraded", "version": version })),
        );
    }
    (
        StatusCode::OK,
        axum::Json(json!({ "status": "ok", "version": version })),
    )
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let behaviour = shared.current();
    let (ok, errors) = match shared.traffic.lock() {
        Ok(mut traffic) => {
            traffic.advance(shared.clock.now(), behaviour);
            (traffic.ok.floor(), traffic.errors.floor())
        }
        Err(_) => (0.0, 0.0),
    };
    let body = format!(
        "# HELP shop_http_requests_total Requests served by the demo shop, by status code.\n\
         # TYPE shop_http_requests_total counter\n\
         shop_http_requests_total{{code=\"200\"}} {ok}\n\
         shop_http_requests_total{{code=\"500\"}} {errors}\n"
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// What the receiver reads of a chat webhook's body.
#[derive(serde::Deserialize)]
struct ChatMessage {
    text: String,
}

async fn webhook(State(shared): State<Arc<Shared>>, body: String) -> StatusCode {
    shared.webhooks_received.fetch_add(1, Ordering::SeqCst);
    // golive's chat message (`{"text": ...}`); anything else is shown as it came.
    let text = serde_json::from_str::<ChatMessage>(&body)
        .map(|message| message.text)
        .unwrap_or_else(|_| body.clone());
    shared.log(json!({ "received_at": shared.clock.now().to_string(), "body": body }));
    let _ = shared.webhooks.send(Webhook { text, pager: false });
    StatusCode::OK
}

impl Shared {
    /// One JSON line in the webhook log, written at once: the chat and the pager are told at
    /// the same time, and a line written in pieces would interleave with the other's.
    fn log(&self, line: serde_json::Value) {
        let logged = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.webhook_log)
            .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
        if let Err(error) = logged {
            tracing::warn!(file = %self.webhook_log.display(), %error, "cannot log a webhook message");
        }
    }
}

/// What the pager reads of an Events API v2 event.
#[derive(serde::Deserialize)]
struct PagerDutyEvent {
    routing_key: String,
    event_action: String,
    dedup_key: Option<String>,
    payload: Option<PagerDutyPayload>,
}

#[derive(serde::Deserialize)]
struct PagerDutyPayload {
    summary: String,
    source: String,
    severity: String,
}

/// What PagerDuty would refuse in `event` (its documented rules), if anything.
fn pagerduty_refusal(event: &PagerDutyEvent) -> Option<String> {
    if event.routing_key.len() != 32 {
        return Some("routing_key must be 32 characters".into());
    }
    if event.dedup_key.as_ref().is_some_and(|key| key.len() > 255) {
        return Some("dedup_key is longer than 255 characters".into());
    }
    match (event.event_action.as_str(), &event.payload) {
        ("trigger", Some(payload)) => {
            if payload.summary.is_empty() || payload.summary.chars().count() > 1024 {
                Some("payload.summary must have 1 to 1024 characters".into())
            } else if payload.source.is_empty() {
                Some("payload.source is required".into())
            } else if !matches!(
                payload.severity.as_str(),
                "critical" | "error" | "warning" | "info"
            ) {
                Some("payload.severity must be critical, error, warning or info".into())
            } else {
                None
            }
        }
        ("trigger", None) => Some("a trigger needs a payload".into()),
        ("acknowledge" | "resolve", _) if event.dedup_key.is_none() => {
            Some(format!("dedup_key is required to {}", event.event_action))
        }
        ("acknowledge" | "resolve", _) => None,
        (other, _) => Some(format!(
            "event_action `{other}` is not trigger, acknowledge or resolve"
        )),
    }
}

/// The PagerDuty-shaped pager: 202 for an event PagerDuty would take, 400 with its reason
/// otherwise, as the Events API v2 answers.
async fn pagerduty(State(shared): State<Arc<Shared>>, body: String) -> impl IntoResponse {
    let event = serde_json::from_str::<PagerDutyEvent>(&body).map_err(|error| error.to_string());
    let refusal = match &event {
        Ok(event) => pagerduty_refusal(event),
        Err(error) => Some(error.clone()),
    };
    let Ok(event) = event else {
        return refused(refusal);
    };
    if refusal.is_some() {
        return refused(refusal);
    }
    shared.log(json!({ "received_at": shared.clock.now().to_string(), "pagerduty": body }));
    let dedup_key = event.dedup_key.unwrap_or_default();
    let mut text = format!("{} {dedup_key}", event.event_action);
    if let Some(payload) = event.payload {
        text.push_str(&format!(": {}", payload.summary));
    }
    let _ = shared.webhooks.send(Webhook { text, pager: true });
    (
        StatusCode::ACCEPTED,
        axum::Json(
            json!({ "status": "success", "message": "Event processed", "dedup_key": dedup_key }),
        ),
    )
}

/// PagerDuty's answer to an invalid event.
fn refused(reason: Option<String>) -> (StatusCode, axum::Json<serde_json::Value>) {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [reason.unwrap_or_default()],
        })),
    )
}
