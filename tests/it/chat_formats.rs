//! Chat formats and rate limits end to end: the real daemon posts to loopback receivers that check
//! each body against the vendor's documented schema — a Microsoft Teams workflow webhook (a
//! `message` with one Adaptive Card) and a Discord webhook (content, embeds, `allowed_mentions`) —
//! through the whole life of an alert (opened, escalated, acknowledged, resolved), with hostile
//! alert text arriving as plain text; and a receiver that answers 429 with `Retry-After`, which
//! golive waits out before it posts again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::Value;

use crate::alerting::open_alert;
use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::monitoring::Switchable;
use crate::plans::{http_check, page_policy};

/// One request a receiver got: when (its own clock) and the JSON body.
#[derive(Debug, Clone)]
struct Arrival {
    at: Instant,
    body: Value,
}

/// A webhook receiver that records every request and answers from a script: the scripted
/// answers first (status and `Retry-After`), then `usual` for every later request.
struct ScriptedReceiver {
    url: String,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

impl ScriptedReceiver {
    async fn start(script: Vec<(u16, Option<&'static str>)>, usual: u16) -> ScriptedReceiver {
        let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let record = arrivals.clone();
        let app = Router::new().route(
            "/hook",
            post(move |body: axum::body::Bytes| {
                let (record, script) = (record.clone(), script.clone());
                async move {
                    let at = Instant::now();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    record.lock().unwrap().push(Arrival { at, body });
                    let (status, retry_after) =
                        script.lock().unwrap().pop_front().unwrap_or((usual, None));
                    let mut headers = HeaderMap::new();
                    if let Some(wait) = retry_after {
                        headers.insert("retry-after", HeaderValue::from_static(wait));
                    }
                    (StatusCode::from_u16(status).unwrap(), headers, "").into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedReceiver { url, arrivals }
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived, and returns them all.
    async fn wait_for(&self, count: usize) -> Vec<Arrival> {
        eventually(30, async || {
            let arrivals = self.arrivals();
            (arrivals.len() >= count).then_some(arrivals)
        })
        .await
    }
}

/// A plan whose only channel is the webhook `chat` of `format` at `hook`: critical alerts of the
/// check `web` (named `name`) page bob at once, alice after `level_two`.
fn chat_plan(target: &str, hook: &str, format: &str, name: &str, level_two: &str) -> String {
    format!(
        "{BASE_PLAN}{}\n[[channels]]\nid = \"chat\"\nkind = \"webhook\"\nurl = \"{hook}\"\nformat = \"{format}\"\ntimeout = \"2s\"\n{}",
        http_check("web", target)
            .named(name)
            .with(r#"risks = ["payments"]"#),
        page_policy()
            .level("0s", &["bob"], &["chat"])
            .level(level_two, &["alice"], &["chat"])
            .repeat("10m"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_answering_429_with_retry_after_is_not_posted_to_again_before_the_wait() {
    // The first post is refused with "come back in 3 s"; golive's own first retry would come after
    // about 2 s, so an early retry shows.
    let hook = ScriptedReceiver::start(vec![(429, Some("3"))], 200).await;
    let target = Switchable::start(503).await;
    let daemon = Daemon::start(&chat_plan(
        &target.url(),
        &hook.url,
        "slack",
        "Shop front page",
        "10m",
    ))
    .await;
    let arrivals = hook.wait_for(2).await;
    let waited = arrivals[1].at.duration_since(arrivals[0].at);
    // The receiver's own clock; the wait starts when golive reads the 429, after the first arrival.
    assert!(
        waited >= Duration::from_millis(2950),
        "posted again after {waited:?}, before the 3 s the receiver asked for"
    );
    assert_eq!(
        arrivals[0].body, arrivals[1].body,
        "the refused page is the one posted again"
    );
    let id = open_alert(&daemon).await["id"].as_i64().unwrap();
    let (_, detail) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(
        detail["notifications"][0]["status"], "delivered",
        "{detail}"
    );
}
