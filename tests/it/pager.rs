//! PagerDuty and Opsgenie channels end to end against local receivers shaped like the vendors'
//! APIs: each request is checked against the vendor's documented schema (required fields, enum
//! values, size limits), and the whole life of an alert — trigger, escalation, acknowledgement,
//! resolution — arrives in order, once each. PagerDuty's V3 webhook acknowledges the golive
//! alert when its signature is good (everyone golive told hears of it), and changes nothing when
//! it is not.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::alerting::{Receiver, alert_rows, healthy, open_alert};
use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::monitoring::Switchable;
use crate::plans::{http_check, page_policy};

/// The routing key and API key the receivers expect (PagerDuty's are 32 characters).
const ROUTING_KEY: &str = "0123456789abcdef0123456789abcdef";
const GENIE_KEY: &str = "eb243592-faa2-4ba2-a551-1afdf565c889";
const WEBHOOK_SECRET: &str = "pd-webhook-signing-secret";

/// What the vendor receivers saw: each accepted request as a short line (`pd trigger level 1`,
/// `og acknowledge`), and every way a request broke the vendor's schema.
#[derive(Default)]
struct Seen {
    events: Vec<String>,
    violations: Vec<String>,
    /// The last PagerDuty trigger's whole body.
    last_trigger: Option<Value>,
    /// How many of the next Opsgenie creates are answered 429 with `Retry-After: 1`.
    throttle_creates: usize,
    /// How many creates were answered so.
    throttled: usize,
    /// Whether PagerDuty resolves are answered 400.
    refuse_resolves: bool,
}

/// A PagerDuty Events API v2 and an Opsgenie Alert API on one loopback port.
struct Vendors {
    /// `http://127.0.0.1:PORT`.
    base: String,
    seen: Arc<Mutex<Seen>>,
}

impl Vendors {
    async fn start() -> Vendors {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let pagerduty = seen.clone();
        let create = seen.clone();
        let action = seen.clone();
        let app = Router::new()
            .route(
                "/v2/enqueue",
                post(move |body: Bytes| {
                    let seen = pagerduty.clone();
                    async move { pagerduty_enqueue(&seen, &body) }
                }),
            )
            .route(
                "/og/v2/alerts",
                post(move |headers: HeaderMap, body: Bytes| {
                    let seen = create.clone();
                    async move {
                        if let Some(answer) = throttled(&seen) {
                            return answer;
                        }
                        opsgenie_request(&seen, &headers, None, None, &body).into_response()
                    }
                }),
            )
            .route(
                "/og/v2/alerts/{alias}/{verb}",
                post(
                    move |Path((alias, verb)): Path<(String, String)>,
                          Query(query): Query<std::collections::HashMap<String, String>>,
                          headers: HeaderMap,
                          body: Bytes| {
                        let seen = action.clone();
                        async move {
                            let identifier = query.get("identifierType").cloned();
                            opsgenie_request(
                                &seen,
                                &headers,
                                Some((alias, verb)),
                                identifier,
                                &body,
                            )
                            .into_response()
                        }
                    },
                ),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Vendors { base, seen }
    }

    fn events(&self) -> Vec<String> {
        self.seen.lock().unwrap().events.clone()
    }

    /// Answers the next `count` Opsgenie creates 429 with `Retry-After: 1`.
    fn throttle_creates(&self, count: usize) {
        self.seen.lock().unwrap().throttle_creates = count;
    }

    fn throttled(&self) -> usize {
        self.seen.lock().unwrap().throttled
    }

    fn violations(&self) -> Vec<String> {
        self.seen.lock().unwrap().violations.clone()
    }

    fn last_trigger(&self) -> Value {
        self.seen
            .lock()
            .unwrap()
            .last_trigger
            .clone()
            .unwrap_or(Value::Null)
    }
}

/// A 429 with `Retry-After: 1` when the receiver was told to throttle the next create.
fn throttled(seen: &Mutex<Seen>) -> Option<axum::response::Response> {
    let mut seen = seen.lock().unwrap();
    if seen.throttle_creates == 0 {
        return None;
    }
    seen.throttle_creates -= 1;
    seen.throttled += 1;
    Some(
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            json!({"message": "You are making too many requests!", "took": 0.0}).to_string(),
        )
            .into_response(),
    )
}

/// The length of a string field in characters, or a violation when it is not a string.
fn text_within(body: &Value, field: &str, max: usize, problems: &mut Vec<String>) -> String {
    match body.get(field) {
        Some(Value::String(text)) => {
            if text.chars().count() > max {
                problems.push(format!("`{field}` is longer than {max} characters"));
            }
            text.clone()
        }
        Some(other) => {
            problems.push(format!("`{field}` is not a string: {other}"));
            String::new()
        }
        None => String::new(),
    }
}

/// Keys of `body` that the vendor's schema does not know.
fn unknown_keys(body: &Value, known: &[&str], problems: &mut Vec<String>) {
    if let Some(object) = body.as_object() {
        for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
            problems.push(format!("unknown field `{key}`"));
        }
    } else {
        problems.push(format!("the body is not a JSON object: {body}"));
    }
}

/// PagerDuty Events API v2 (`POST /v2/enqueue`), as documented: `routing_key`, `event_action`
/// (trigger, acknowledge, resolve), `dedup_key` (at most 255, required to acknowledge or resolve),
/// and for a trigger a `payload` with `summary` (at most 1024), `source` and `severity`
/// (critical, error, warning, info).
fn pagerduty_enqueue(seen: &Mutex<Seen>, body: &[u8]) -> (StatusCode, String) {
    let mut problems = Vec::new();
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    unknown_keys(
        &body,
        &[
            "routing_key",
            "event_action",
            "dedup_key",
            "payload",
            "images",
            "links",
            "client",
            "client_url",
        ],
        &mut problems,
    );
    if body["routing_key"] != ROUTING_KEY {
        problems.push("wrong or missing `routing_key`".to_string());
    }
    let dedup_key = text_within(&body, "dedup_key", 255, &mut problems);
    let action = body["event_action"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut level = String::new();
    match action.as_str() {
        "trigger" => {
            let payload = &body["payload"];
            unknown_keys(
                payload,
                &[
                    "summary",
                    "source",
                    "severity",
                    "timestamp",
                    "component",
                    "group",
                    "class",
                    "custom_details",
                ],
                &mut problems,
            );
            if text_within(payload, "summary", 1024, &mut problems).is_empty() {
                problems.push("`payload.summary` is required".to_string());
            }
            if text_within(payload, "source", 255, &mut problems).is_empty() {
                problems.push("`payload.source` is required".to_string());
            }
            if !matches!(
                payload["severity"].as_str(),
                Some("critical" | "error" | "warning" | "info")
            ) {
                problems.push(format!(
                    "`payload.severity` {} is not one of critical, error, warning, info",
                    payload["severity"]
                ));
            }
            if let Some(timestamp) = payload.get("timestamp")
                && timestamp
                    .as_str()
                    .and_then(|text| text.parse::<jiff::Timestamp>().ok())
                    .is_none()
            {
                problems.push(format!("`payload.timestamp` {timestamp} is not ISO 8601"));
            }
            if !payload["custom_details"].is_object() {
                problems.push("`payload.custom_details` is not an object".to_string());
            }
            for link in body["links"].as_array().into_iter().flatten() {
                if !link["href"].is_string() {
                    problems.push(format!("a link without `href`: {link}"));
                }
            }
            level = format!(" level {}", payload["custom_details"]["level"]);
            seen.lock().unwrap().last_trigger = Some(body.clone());
        }
        "acknowledge" | "resolve" => {
            if dedup_key.is_empty() {
                problems.push(format!("`dedup_key` is required to {action}"));
            }
        }
        other => problems.push(format!(
            "`event_action` `{other}` is not one of trigger, acknowledge, resolve"
        )),
    }
    let mut seen = seen.lock().unwrap();
    if action == "resolve" && seen.refuse_resolves {
        let answer = json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["resolve refused by the test"]});
        return (StatusCode::BAD_REQUEST, answer.to_string());
    }
    if problems.is_empty() {
        seen.events.push(format!("pd {action}{level} {dedup_key}"));
        (
            StatusCode::ACCEPTED,
            json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})
                .to_string(),
        )
    } else {
        let answer = json!({"status": "invalid event", "message": "Event object is invalid", "errors": problems}).to_string();
        seen.violations.extend(problems);
        (StatusCode::BAD_REQUEST, answer)
    }
}

/// Opsgenie's Alert API, as documented: `Authorization: GenieKey <key>`; create with `message`
/// (required, at most 130), `alias` (512), `description` (15000), `priority` (P1 to P5), `tags`
/// (20 of 50), `details` (8000 together), `entity` (512), `source` (100), `user` (100), `note`
/// (25000); acknowledge and close by alias with `identifierType=alias`, `user`, `source`, `note`.
fn opsgenie_request(
    seen: &Mutex<Seen>,
    headers: &HeaderMap,
    alias_and_verb: Option<(String, String)>,
    identifier: Option<String>,
    body: &[u8],
) -> (StatusCode, String) {
    let mut problems = Vec::new();
    if headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        != Some(&format!("GenieKey {GENIE_KEY}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Could not authenticate", "took": 0.0}).to_string(),
        );
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let event = match alias_and_verb {
        None => opsgenie_create(&body, &mut problems),
        Some((alias, verb)) => opsgenie_action(&body, &alias, &verb, identifier, &mut problems),
    };
    let mut seen = seen.lock().unwrap();
    if problems.is_empty() {
        seen.events.push(event);
        (
            StatusCode::ACCEPTED,
            json!({"result": "Request will be processed", "took": 0.01, "requestId": "r-1"})
                .to_string(),
        )
    } else {
        let answer = json!({"message": problems.join("; "), "took": 0.0}).to_string();
        seen.violations.extend(problems);
        (StatusCode::UNPROCESSABLE_ENTITY, answer)
    }
}

/// Checks an Opsgenie create's body; the event line it makes (`og create P1 alias`).
fn opsgenie_create(body: &Value, problems: &mut Vec<String>) -> String {
    unknown_keys(
        body,
        &[
            "message",
            "alias",
            "description",
            "responders",
            "visibleTo",
            "actions",
            "tags",
            "details",
            "entity",
            "source",
            "priority",
            "user",
            "note",
        ],
        problems,
    );
    if text_within(body, "message", 130, problems).is_empty() {
        problems.push("`message` is required".to_string());
    }
    let alias = text_within(body, "alias", 512, problems);
    text_within(body, "description", 15_000, problems);
    text_within(body, "entity", 512, problems);
    text_within(body, "source", 100, problems);
    text_within(body, "user", 100, problems);
    text_within(body, "note", 25_000, problems);
    if !matches!(
        body["priority"].as_str(),
        None | Some("P1" | "P2" | "P3" | "P4" | "P5")
    ) {
        problems.push(format!(
            "`priority` {} is not one of P1 to P5",
            body["priority"]
        ));
    }
    let tags = body["tags"].as_array().cloned().unwrap_or_default();
    if tags.len() > 20
        || tags
            .iter()
            .any(|tag| tag.as_str().is_none_or(|tag| tag.chars().count() > 50))
    {
        problems.push("`tags`: at most 20 strings of at most 50 characters".to_string());
    }
    let details = body["details"].as_object().cloned().unwrap_or_default();
    let size: usize = details
        .iter()
        .map(|(key, value)| {
            key.chars().count() + value.as_str().map_or(usize::MAX / 2, |v| v.chars().count())
        })
        .sum();
    if size > 8000 {
        problems.push("`details` are not strings of at most 8000 characters together".to_string());
    }
    let note = if body["note"].is_string() {
        " with note"
    } else {
        ""
    };
    format!(
        "og create {} {alias}{note}",
        body["priority"].as_str().unwrap_or("P3")
    )
}

/// Checks an acknowledge, unacknowledge or close by alias; the event line it makes.
fn opsgenie_action(
    body: &Value,
    alias: &str,
    verb: &str,
    identifier: Option<String>,
    problems: &mut Vec<String>,
) -> String {
    unknown_keys(body, &["user", "source", "note"], problems);
    text_within(body, "user", 100, problems);
    text_within(body, "source", 100, problems);
    text_within(body, "note", 25_000, problems);
    if alias.chars().count() > 512 {
        problems.push("the alias is longer than 512 characters".to_string());
    }
    if identifier.as_deref() != Some("alias") {
        problems.push(format!("identifierType is {identifier:?}, not alias"));
    }
    if !matches!(verb, "acknowledge" | "unacknowledge" | "close") {
        problems.push(format!("unknown action `{verb}`"));
    }
    match body["user"].as_str() {
        Some(user) => format!("og {verb} {alias} by {user}"),
        None => format!("og {verb} {alias}"),
    }
}

/// The plan: `web` checks `target` (with the `payments` risk); critical alerts page bob at once
/// through `level_one`, and alice `level_two` later through PagerDuty and Opsgenie again.
fn pager_plan(
    target: &str,
    vendors: &str,
    level_one: &[&str],
    level_two: &str,
    extra: &str,
) -> String {
    format!(
        r#"{BASE_PLAN}{}
[[channels]]
id = "pagerduty"
kind = "pagerduty"
routing_key = {{ env = "TEST_PD_ROUTING_KEY" }}
url = "{vendors}/v2/enqueue"
webhook_secret = {{ env = "TEST_PD_WEBHOOK_SECRET" }}
timeout = "2s"

[[channels]]
id = "opsgenie"
kind = "opsgenie"
api_key = {{ env = "TEST_OPSGENIE_KEY" }}
url = "{vendors}/og"
timeout = "2s"
{extra}
{}"#,
        http_check("web", target)
            .named("Shop front page")
            .with(r#"risks = ["payments"]"#),
        page_policy()
            .level("0s", &["bob"], level_one)
            .level(level_two, &["alice"], &["pagerduty", "opsgenie"])
            .repeat("10m")
            .alerting("group_window = \"0s\""),
    )
}

const SECRETS: [(&str, &str); 3] = [
    ("TEST_PD_ROUTING_KEY", ROUTING_KEY),
    ("TEST_OPSGENIE_KEY", GENIE_KEY),
    ("TEST_PD_WEBHOOK_SECRET", WEBHOOK_SECRET),
];

/// Waits until every outbox row of alert `id` is delivered.
async fn all_delivered(daemon: &Daemon, id: i64) -> Vec<Value> {
    eventually(20, async || {
        let rows = alert_rows(daemon, id).await;
        // An alert's rows appear with it, but the answer may come first: none yet is not "all".
        (!rows.is_empty() && rows.iter().all(|row| row["status"] == "delivered")).then_some(rows)
    })
    .await
}

/// Waits until the vendors saw `count` requests.
async fn vendor_events(vendors: &Vendors, count: usize) -> Vec<String> {
    eventually(20, async || {
        let events = vendors.events();
        (events.len() >= count).then_some(events)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alerts_whole_life_reaches_pagerduty_and_opsgenie_in_order_once_each_within_their_schemas()
 {
    let vendors = Vendors::start().await;
    let target = Switchable::start(200).await;
    let plan = pager_plan(
        &target.url(),
        &vendors.base,
        &["pagerduty", "opsgenie"],
        "2s",
        "",
    );
    let daemon = Daemon::start_with_env(&plan, &SECRETS).await;
    healthy(&daemon, "web").await;
    target.set(503);
    let alert = open_alert(&daemon).await;
    let id = alert["id"].as_i64().unwrap();
    // Level 2 follows by itself; then someone acknowledges in golive, and the target recovers.
    eventually(20, async || {
        (open_alert(&daemon).await["level"] == 2).then_some(())
    })
    .await;
    vendor_events(&vendors, 4).await;
    let trigger = vendors.last_trigger();
    let (status, body) = daemon
        .post(
            &format!("/api/v1/alerts/{id}/ack"),
            json!({"author": "Bob Berg", "note": "on it"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    vendor_events(&vendors, 6).await;
    target.set(200);
    vendor_events(&vendors, 8).await;
    all_delivered(&daemon, id).await;

    assert_eq!(vendors.violations(), Vec::<String>::new());
    let key = format!("golive-test-shop-{id}");
    let pagerduty: Vec<String> = vendors
        .events()
        .into_iter()
        .filter(|e| e.starts_with("pd"))
        .collect();
    assert_eq!(
        pagerduty,
        [
            format!("pd trigger level 1 {key}"),
            format!("pd trigger level 2 {key}"),
            format!("pd acknowledge {key}"),
            format!("pd resolve {key}"),
        ],
        "one incident: opened, updated by level 2, acknowledged, resolved"
    );
    let opsgenie: Vec<String> = vendors
        .events()
        .into_iter()
        .filter(|e| e.starts_with("og"))
        .collect();
    assert_eq!(
        opsgenie,
        [
            format!("og create P1 {key}"),
            format!("og create P1 {key} with note"),
            format!("og acknowledge {key} by Bob Berg"),
            format!("og close {key}"),
        ]
    );
    // What the responder reads on the incident: the phase, the risk and its contingency, and a
    // link to the alert on golive's status page.
    let details = &trigger["payload"]["custom_details"];
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(details["phase"], "planned", "{trigger}");
    assert_eq!(details["level"], 2);
    assert_eq!(details["risks"][0]["id"], "payments", "{trigger}");
    assert!(
        details["contingency"]
            .as_str()
            .unwrap_or_default()
            .contains("Switch to the fallback provider"),
        "{trigger}"
    );
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("Shop front page"),
        "{trigger}"
    );
    assert!(
        trigger["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#alert-{id}")),
        "{trigger}"
    );
    // The keys are secrets: they appear nowhere golive shows or logs — the plan, the status, the
    // alert with its delivery rows, the status page, the timeline.
    let mut shown = Vec::new();
    for path in [
        "/api/v1/plan",
        "/api/v1/status",
        &format!("/api/v1/alerts/{id}"),
    ] {
        let (status, answer) = daemon.get(path).await;
        assert_eq!(status, 200, "{path}: {answer}");
        shown.push(answer.to_string());
    }
    for path in ["/", "/api/v1/timeline"] {
        let (status, answer) = daemon.get_text(path).await;
        assert_eq!(status, 200, "{path}: {answer}");
        shown.push(answer);
    }
    shown.push(daemon.log());
    for (name, secret) in SECRETS {
        for text in &shown {
            assert!(!text.contains(secret), "{name} shown: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_never_overtakes_a_create_that_opsgenie_asked_to_send_again_later() {
    let vendors = Vendors::start().await;
    vendors.throttle_creates(1);
    let target = Switchable::start(200).await;
    let plan = pager_plan(&target.url(), &vendors.base, &["opsgenie"], "10m", "");
    let daemon = Daemon::start_with_env(&plan, &SECRETS).await;
    healthy(&daemon, "web").await;
    target.set(503);
    let id = open_alert(&daemon).await["id"].as_i64().unwrap();
    // Opsgenie answered the create "429, retry after 1 s"; the alert is over meanwhile.
    eventually(20, async || (vendors.throttled() == 1).then_some(())).await;
    target.set(200);
    all_delivered(&daemon, id).await;
    let key = format!("golive-test-shop-{id}");
    assert_eq!(vendors.violations(), Vec::<String>::new());
    assert_eq!(
        vendors.events(),
        [format!("og create P1 {key}"), format!("og close {key}")],
        "opened before it is closed, once each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_acknowledgement_pages_again_through_pagerduty_and_opsgenie() {
    let vendors = Vendors::start().await;
    let target = Switchable::start(503).await;
    let plan = pager_plan(
        &target.url(),
        &vendors.base,
        &["pagerduty", "opsgenie"],
        "10m",
        "",
    )
    .replace(
        "repeat = \"10m\"",
        "repeat = \"10m\"\nack_timeout = \"10s\"",
    );
    assert!(plan.contains("ack_timeout"), "{plan}");
    let daemon = Daemon::start_with_env(&plan, &SECRETS).await;
    let id = open_alert(&daemon).await["id"].as_i64().unwrap();
    vendor_events(&vendors, 2).await;
    let (status, body) = daemon
        .post(
            &format!("/api/v1/alerts/{id}/ack"),
            json!({"author": "Bob Berg"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The check still fails: after 10 s the acknowledgement lapses and the on-call is paged
    // anew, which an acknowledged incident would not do.
    let events = eventually(30, async || {
        let events = vendors.events();
        (events.len() >= 8).then_some(events)
    })
    .await;
    let key = format!("golive-test-shop-{id}");
    assert_eq!(vendors.violations(), Vec::<String>::new());
    let of = |vendor: &str| -> Vec<String> {
        events
            .iter()
            .filter(|event| event.starts_with(vendor))
            .cloned()
            .collect()
    };
    assert_eq!(
        of("pd"),
        [
            format!("pd trigger level 1 {key}"),
            format!("pd acknowledge {key}"),
            format!("pd resolve {key}"),
            format!("pd trigger level 1 {key}"),
        ]
    );
    assert_eq!(
        of("og"),
        [
            format!("og create P1 {key}"),
            format!("og acknowledge {key} by Bob Berg"),
            format!("og unacknowledge {key}"),
            format!("og create P1 {key}"),
        ]
    );
}

/// `body` signed as PagerDuty signs webhooks with `secret`: `v1=<hex HMAC-SHA256>`.
fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("v1={hex}")
}

/// A V3 `incident.acknowledged` webhook for the incident `key`, by `who`.
fn acknowledged(key: &str, who: &str) -> Vec<u8> {
    json!({"event": {
        "id": "01DEN4HPBQAYPJ9BS4C6UVDPJS",
        "event_type": "incident.acknowledged",
        "resource_type": "incident",
        "occurred_at": "2030-01-01T20:01:00.000Z",
        "agent": {"html_url": "https://acme.pagerduty.com/users/PLH1HKV", "id": "PLH1HKV",
                  "self": "https://api.pagerduty.com/users/PLH1HKV", "summary": who, "type": "user_reference"},
        "client": null,
        "data": {"id": "PGR0VU2", "type": "incident", "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                 "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2", "number": 2,
                 "status": "acknowledged", "incident_key": key, "created_at": "2030-01-01T20:00:00Z",
                 "title": "Shop front page", "urgency": "high", "resolve_reason": null}
    }})
    .to_string()
    .into_bytes()
}

/// POSTs a webhook body with the `X-PagerDuty-Signature` header as given.
async fn deliver_webhook(
    daemon: &Daemon,
    body: Vec<u8>,
    signature: Option<String>,
) -> (u16, Value) {
    let mut request = daemon
        .http
        .post(daemon.at("/api/v1/integrations/pagerduty"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("X-PagerDuty-Signature", signature);
    }
    let response = request.send().await.expect("webhook");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_made_in_pagerduty_acknowledges_the_alert_and_everyone_told_hears_of_it()
{
    let vendors = Vendors::start().await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let chat = format!(
        "[[channels]]\nid = \"chat\"\nkind = \"webhook\"\nurl = \"{}\"\n",
        hook.url
    );
    let plan = pager_plan(
        &target.url(),
        &vendors.base,
        &["pagerduty", "opsgenie", "chat"],
        "10m",
        &chat,
    );
    let daemon = Daemon::start_with_env(&plan, &SECRETS).await;
    let alert = open_alert(&daemon).await;
    let id = alert["id"].as_i64().unwrap();
    let key = vendor_events(&vendors, 2).await[0]
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let body = acknowledged(&key, "Tenex Engineer");
    // PagerDuty signs with every secret of a rotation; one of them is golive's.
    let signatures = format!("v1=deadbeef,{}", signature(WEBHOOK_SECRET, &body));
    let (status, answer) = deliver_webhook(&daemon, body, Some(signatures)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"outcome": "acknowledged", "alert": id}));
    let alert = open_alert(&daemon).await;
    assert_eq!(alert["acknowledged"]["by"], "Tenex Engineer", "{alert}");
    // Everyone golive notified is told, as for an acknowledgement made in golive.
    let told = eventually(20, async || {
        hook.texts()
            .into_iter()
            .find(|text| text.contains("[ACKNOWLEDGED]"))
    })
    .await;
    assert!(told.contains("Shop front page"), "{told}");
    vendor_events(&vendors, 4).await;
    all_delivered(&daemon, id).await;
    let events = vendors.events();
    assert!(
        events.contains(&format!("og acknowledge {key} by Tenex Engineer")),
        "{events:?}"
    );
    assert!(
        events.contains(&format!("pd acknowledge {key}")),
        "{events:?}"
    );
    let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
    assert!(
        log.to_string()
            .contains("acknowledged by Tenex Engineer (pagerduty)"),
        "{log}"
    );
    // PagerDuty delivers at least once: the same webhook again changes nothing.
    let body = acknowledged(&key, "Tenex Engineer");
    let signed = signature(WEBHOOK_SECRET, &body);
    let (status, _) = deliver_webhook(&daemon, body, Some(signed)).await;
    assert_eq!(status, 200);
    all_delivered(&daemon, id).await;
    let (_, log) = daemon.get("/api/v1/log?kind=alert").await;
    assert_eq!(
        log.to_string()
            .matches("acknowledged by Tenex Engineer")
            .count(),
        1,
        "acknowledged once: {log}"
    );
    assert_eq!(vendors.violations(), Vec::<String>::new());
    assert_eq!(
        hook.texts()
            .iter()
            .filter(|text| text.contains("[ACKNOWLEDGED]"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pagerduty_webhook_with_a_bad_signature_is_refused_and_changes_nothing() {
    let vendors = Vendors::start().await;
    let target = Switchable::start(503).await;
    let plan = pager_plan(&target.url(), &vendors.base, &["pagerduty"], "10m", "");
    let daemon = Daemon::start_with_env(&plan, &SECRETS).await;
    let alert = open_alert(&daemon).await;
    let id = alert["id"].as_i64().unwrap();
    let key = format!("golive-test-shop-{id}");
    let body = acknowledged(&key, "Mallory");
    for bad in [
        None,
        Some(signature("another secret", &body)),
        Some(signature(WEBHOOK_SECRET, b"another body")),
        Some(signature(WEBHOOK_SECRET, &body).replace("v1=", "v2=")),
    ] {
        let (status, answer) = deliver_webhook(&daemon, body.clone(), bad.clone()).await;
        assert_eq!(status, 401, "{bad:?}: {answer}");
    }
    // Signed but malformed: 400 naming the field.
    let malformed = br#"{"event": {"id": "x", "event_type": "incident.acknowledged"}}"#.to_vec();
    let signed = signature(WEBHOOK_SECRET, &malformed);
    let (status, answer) = deliver_webhook(&daemon, malformed, Some(signed)).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("event.data")),
        "{answer}"
    );
    let no_type = br#"{"event": {"id": "x"}}"#.to_vec();
    let signed = signature(WEBHOOK_SECRET, &no_type);
    let (status, answer) = deliver_webhook(&daemon, no_type, Some(signed)).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("event.event_type")),
        "{answer}"
    );
    // Another tool's incident, and another launch's alert: accepted, and ignored.
    for foreign in [
        "d3640fbd41094207a1c11e58e46b1662",
        &format!("golive-other-shop-{id}"),
    ] {
        let body = acknowledged(foreign, "Tenex Engineer");
        let signed = signature(WEBHOOK_SECRET, &body);
        let (status, answer) = deliver_webhook(&daemon, body, Some(signed)).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (202, Some("ignored")),
            "{answer}"
        );
    }
    let (status, alert) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(alert["alert"]["acknowledged"], Value::Null, "{alert}");
    let rows = all_delivered(&daemon, id).await;
    assert_eq!(rows.len(), 1, "only the page: {rows:?}");
    assert_eq!(vendors.events(), [format!("pd trigger level 1 {key}")]);
    assert!(daemon.log().contains("a PagerDuty webhook was refused"));
    assert!(!daemon.log().contains(WEBHOOK_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_opens_and_resolves_a_test_incident_at_pagerduty_and_opsgenie() {
    let vendors = Vendors::start().await;
    let target = Switchable::start(200).await;
    let plan = pager_plan(
        &target.url(),
        &vendors.base,
        &["pagerduty", "opsgenie"],
        "10m",
        "",
    );
    let daemon = Daemon::start_with_env(&plan, &SECRETS).await;
    let (status, body) = daemon.post("/api/v1/notify/test", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    for (channel, kind) in [("pagerduty", "pagerduty"), ("opsgenie", "opsgenie")] {
        let result = results
            .iter()
            .find(|result| result["channel"] == channel)
            .unwrap();
        assert_eq!(result["kind"], kind);
        assert_eq!(result["result"], "delivered", "{result}");
    }
    assert_eq!(vendors.violations(), Vec::<String>::new());
    // Opened at severity info (the lowest priority), and resolved at once.
    assert_eq!(
        vendors.events(),
        [
            "pd trigger level 1 golive-test-shop-0-test-pagerduty",
            "pd resolve golive-test-shop-0-test-pagerduty",
            "og create P5 golive-test-shop-0-test-opsgenie",
            "og close golive-test-shop-0-test-opsgenie",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pagerduty_webhook_without_an_incident_key_is_accepted_changes_nothing_and_is_counted_as_ignored()
 {
    let vendors = Vendors::start().await;
    let target = Switchable::start(503).await;
    let plan = pager_plan(&target.url(), &vendors.base, &["pagerduty"], "10m", "");
    let daemon = Daemon::start_with_env(&plan, &SECRETS).await;
    let alert = open_alert(&daemon).await;
    let id = alert["id"].as_i64().unwrap();
    // A service that groups alerts acknowledges an incident of its own: no incident_key.
    let mut webhook: Value = serde_json::from_slice(&acknowledged("x", "Tenex Engineer")).unwrap();
    webhook["event"]["data"]["incident_key"] = Value::Null;
    let body = webhook.to_string().into_bytes();
    let signed = signature(WEBHOOK_SECRET, &body);
    let (status, answer) = deliver_webhook(&daemon, body, Some(signed)).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (202, Some("ignored")),
        "{answer}"
    );
    let (_, alert) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["alert"]["acknowledged"], Value::Null, "{alert}");
    let (_, metrics) = daemon.get_text("/metrics").await;
    assert!(
        metrics.contains("golive_pagerduty_webhooks_total{outcome=\"ignored\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("golive_pagerduty_webhooks_total{outcome=\"acknowledged\"} 0"),
        "{metrics}"
    );
    let log = daemon.log();
    assert!(log.contains("a PagerDuty webhook was ignored"), "{log}");
    assert!(!log.contains(WEBHOOK_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pagerduty_webhook_secret_that_cannot_be_read_is_answered_503_so_pagerduty_retries() {
    let vendors = Vendors::start().await;
    let target = Switchable::start(503).await;
    let plan = pager_plan(&target.url(), &vendors.base, &["pagerduty"], "10m", "");
    // The channel names TEST_PD_WEBHOOK_SECRET, which is not set: 404 would count towards the
    // three 4xx after which PagerDuty turns the subscription off for 24 hours.
    let daemon = Daemon::start_with_env(&plan, &SECRETS[..2]).await;
    let alert = open_alert(&daemon).await;
    let id = alert["id"].as_i64().unwrap();
    let body = acknowledged(&format!("golive-test-shop-{id}"), "Tenex Engineer");
    let signed = signature(WEBHOOK_SECRET, &body);
    let (status, answer) = deliver_webhook(&daemon, body, Some(signed)).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|error| error.contains("TEST_PD_WEBHOOK_SECRET")),
        "{answer}"
    );
    let (_, alert) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(alert["alert"]["acknowledged"], Value::Null, "{alert}");
    // Without any webhook_secret in the plan, acknowledgements from PagerDuty are off: 404.
    let plan = plan.replace(
        "webhook_secret = { env = \"TEST_PD_WEBHOOK_SECRET\" }\n",
        "",
    );
    let daemon = Daemon::start_with_env(&plan, &SECRETS[..2]).await;
    let body = acknowledged(&format!("golive-test-shop-{id}"), "Tenex Engineer");
    let signed = signature(WEBHOOK_SECRET, &body);
    let (status, answer) = deliver_webhook(&daemon, body, Some(signed)).await;
    assert_eq!(status, 404, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_says_when_the_test_incident_was_opened_but_could_not_be_resolved() {
    let vendors = Vendors::start().await;
    vendors.seen.lock().unwrap().refuse_resolves = true;
    let target = Switchable::start(200).await;
    let plan = pager_plan(&target.url(), &vendors.base, &["pagerduty"], "10m", "");
    let daemon = Daemon::start_with_env(&plan, &SECRETS).await;
    let (status, body) = daemon
        .post("/api/v1/notify/test", json!({"channels": ["pagerduty"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let result = &body["results"][0];
    assert_eq!(result["result"], "failed", "{result}");
    let answer = result["answer"].as_str().unwrap_or_default();
    assert!(
        answer.starts_with("opened (HTTP 202); closing it failed: HTTP 400")
            && answer.ends_with("resolve the test incident by hand"),
        "{answer}"
    );
    assert!(!answer.contains(ROUTING_KEY), "{answer}");
    assert_eq!(
        vendors.events(),
        ["pd trigger level 1 golive-test-shop-0-test-pagerduty"]
    );
}
