//! PagerDuty, both ways. Out: each step of a golive alert's life as an Events API v2 event
//! ([`PagerDutySender`], `POST https://events.pagerduty.com/v2/enqueue`): `trigger` with a stable
//! `dedup_key` per alert when it opens (and again, updating the same incident, at each later
//! level or when an acknowledgement lapses), `acknowledge` when someone takes it in golive,
//! `resolve` when it is over. In: PagerDuty's V3 webhooks ([`WebhookDelivery`]), whose
//! `X-PagerDuty-Signature` [`verify_signature`] checks, so an acknowledgement made in PagerDuty
//! acknowledges the golive alert (the API's `pagerduty` handler).
//!
//! Levels: PagerDuty's service runs its own escalation policy, so golive opens one incident per
//! alert and a later golive level only updates it (a `trigger` with the same `dedup_key`, which
//! PagerDuty appends to the incident's log with the new level in `custom_details`); reminders of
//! the last level are not sent (PagerDuty re-notifies by its own rules).
//!
//! Severities map one to one (`critical`, `warning`, `info`); golive has no `error`.
//!
//! # Secrets
//! The routing key and the webhook secret are read once, when the sender is made; a missing one
//! makes every send fail with [`DeliveryError::Permanent`] naming the variable or file. Neither
//! appears in any error, log or description.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{Delivered, DeliveryError, http};
use crate::core::message::{AlertBody, PagerAction, PagerEvent, RiskFacts};
use crate::domain::Secret;
use crate::plan::alerting::PagerDutyChannel;
use crate::plan::checks::Severity;
use crate::secrets::read_secret;

/// PagerDuty's longest `payload.summary`.
pub const SUMMARY_MAX_CHARS: usize = 1024;

/// The header of PagerDuty's V3 webhook signatures.
pub const SIGNATURE_HEADER: &str = "X-PagerDuty-Signature";

/// The V3 webhook event type golive acts on.
pub const ACKNOWLEDGED: &str = "incident.acknowledged";

/// Sends an alert's life to one PagerDuty service.
#[derive(Debug, Clone)]
pub struct PagerDutySender {
    client: reqwest::Client,
    endpoint: String,
    timeout: Duration,
    /// The routing key, or why every send fails.
    routing_key: Result<Secret, String>,
    /// The V3 webhook subscription's signing secret (two-way), or why it cannot be read.
    webhook_secret: Option<Result<Secret, String>>,
}

impl PagerDutySender {
    /// A sender for `channel`, reading its routing key and webhook secret now. It never fails:
    /// a missing secret is remembered and every send returns it as a permanent error.
    pub fn new(channel: &PagerDutyChannel, client: reqwest::Client) -> PagerDutySender {
        PagerDutySender {
            client,
            endpoint: channel.url.clone(),
            timeout: channel.timeout,
            routing_key: read_secret(&channel.routing_key)
                .map_err(|reason| format!("pagerduty routing_key unavailable: {reason}")),
            webhook_secret: channel.webhook_secret.as_ref().map(|source| {
                read_secret(source)
                    .map_err(|reason| format!("pagerduty webhook_secret unavailable: {reason}"))
            }),
        }
    }

    /// Sends `event`: `202` (any 2xx) is delivered; 429, 5xx, timeouts and connection problems
    /// are retried; 400 (an event PagerDuty refuses) is permanent.
    pub async fn send(&self, event: &PagerEvent) -> Result<Delivered, DeliveryError> {
        let routing_key = self
            .routing_key
            .as_ref()
            .map_err(|reason| DeliveryError::Permanent(reason.clone()))?;
        let body =
            serde_json::to_vec(&Event::of(event, routing_key.expose())).map_err(|error| {
                DeliveryError::Permanent(format!("cannot encode the event: {error}"))
            })?;
        http::post_json(
            &self.client,
            &self.endpoint,
            &HeaderMap::new(),
            body,
            self.timeout,
        )
        .await
    }

    /// E.g. `pagerduty at events.pagerduty.com` (the host only).
    pub fn describe(&self) -> String {
        match reqwest::Url::parse(&self.endpoint)
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
        {
            Some(host) => format!("pagerduty at {host}"),
            None => "pagerduty".to_string(),
        }
    }

    /// Why sends or the webhook will fail (a missing secret), for a warning at start.
    pub fn setup_problem(&self) -> Option<&str> {
        self.routing_key
            .as_ref()
            .err()
            .map(String::as_str)
            .or_else(|| {
                self.webhook_secret
                    .as_ref()
                    .and_then(|secret| secret.as_ref().err().map(String::as_str))
            })
    }

    /// The webhook signing secret, when two-way is configured and the secret could be read.
    pub fn webhook_secret(&self) -> Option<&Secret> {
        self.webhook_secret.as_ref()?.as_ref().ok()
    }
}

/// An Events API v2 event (`POST /v2/enqueue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub routing_key: String,
    pub event_action: PagerAction,
    /// At most 255 characters; golive's [`crate::core::message::pager_key`].
    pub dedup_key: String,
    /// Only with `trigger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<EventPayload>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
}

/// The `payload` of a `trigger`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPayload {
    /// At most [`SUMMARY_MAX_CHARS`].
    pub summary: String,
    pub source: String,
    pub severity: EventSeverity,
    pub timestamp: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The launch's phase.
    pub group: String,
    /// What kind of check raised the alert (`http`, `prometheus`, ...) or `alert`.
    pub class: String,
    pub custom_details: CustomDetails,
}

/// PagerDuty's severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    Critical,
    Error,
    Warning,
    Info,
}

impl From<Severity> for EventSeverity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Critical => EventSeverity::Critical,
            Severity::Warning => EventSeverity::Warning,
            Severity::Info => EventSeverity::Info,
        }
    }
}

/// What the responder sees under "Details": the launch's phase, the level, the risks and what to
/// do about them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomDetails {
    pub launch: String,
    pub golive_alert: i64,
    pub phase: String,
    pub level: usize,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    pub risks: Vec<RiskFacts>,
    /// The risks' contingencies, one per line: what the plan says to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contingency: Option<String>,
    pub rollback_recommended: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_procedure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How to acknowledge in golive (`golive ack 12`).
    pub acknowledge: String,
}

/// A link shown on the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    pub text: String,
}

impl Event {
    /// The event for one step of an alert's life: a `trigger` carries the whole alert, an
    /// `acknowledge` or `resolve` only its key.
    pub fn of(event: &PagerEvent, routing_key: &str) -> Event {
        let alert = &event.alert;
        let payload = (event.action == PagerAction::Trigger).then(|| EventPayload {
            summary: cut(
                &format!("{}: {}", event.summary, alert.alert.reason),
                SUMMARY_MAX_CHARS,
            ),
            source: format!("golive: {}", alert.launch),
            severity: alert.alert.severity.into(),
            timestamp: alert.sent_at,
            component: alert.check.as_ref().map(|check| check.id.clone()),
            group: alert.phase.as_str().to_string(),
            class: alert
                .check
                .as_ref()
                .map_or_else(|| "alert".to_string(), |check| check.kind.clone()),
            custom_details: CustomDetails::of(alert),
        });
        Event {
            routing_key: routing_key.to_string(),
            event_action: event.action,
            dedup_key: event.key.clone(),
            payload,
            links: vec![Link {
                href: alert.status_url.clone(),
                text: format!("Alert #{} on the golive status page", alert.alert.id),
            }],
            client: Some("golive".to_string()),
            client_url: Some(alert.status_url.clone()),
        }
    }
}

impl CustomDetails {
    fn of(alert: &AlertBody) -> CustomDetails {
        CustomDetails {
            launch: alert.launch.clone(),
            golive_alert: alert.alert.id,
            phase: alert.phase.as_str().to_string(),
            level: alert.level,
            reason: alert.alert.reason.clone(),
            value: alert.value.clone(),
            check: alert.check.as_ref().map(|check| check.name.clone()),
            risks: alert.risks.clone(),
            contingency: contingencies(&alert.risks),
            rollback_recommended: alert.rollback_recommended,
            rollback_procedure: alert.rollback_procedure.clone(),
            next_level: alert.next_level.clone(),
            note: alert.note.clone(),
            acknowledge: alert.acknowledge.cli.clone(),
        }
    }
}

/// The risks' contingencies, one line each (`Payments: switch to the backup provider`).
pub(super) fn contingencies(risks: &[RiskFacts]) -> Option<String> {
    let lines: Vec<String> = risks
        .iter()
        .filter(|risk| !risk.contingency.trim().is_empty())
        .map(|risk| format!("{}: {}", risk.title, risk.contingency.trim()))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// `text` cut to at most `max` characters, `…` marking a cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A V3 webhook delivery as golive reads it: one event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookDelivery {
    pub event: WebhookEvent,
}

/// The event of a [`WebhookDelivery`]; `data` differs by `event_type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookEvent {
    pub id: String,
    /// E.g. `incident.acknowledged`, `pagey.ping`.
    pub event_type: String,
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
    /// Who did it (`summary` is the person's name).
    #[serde(default)]
    pub agent: Option<Reference>,
    #[serde(default)]
    pub data: Option<WebhookData>,
}

/// A reference to a PagerDuty object (a user, a service).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reference {
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

/// The parts of an event's `data` golive reads (an incident's).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookData {
    /// The incident's key: the `dedup_key` of the event that opened it.
    #[serde(default)]
    pub incident_key: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub number: Option<u64>,
}

/// Whether `header` (`v1=<hex>[,v1=<hex>...]`, several during a secret rotation) carries a valid
/// HMAC-SHA256 of `body` under one of `secrets`. Compared in constant time; signatures of other
/// versions are skipped.
pub fn verify_signature<'a>(
    secrets: impl IntoIterator<Item = &'a Secret>,
    body: &[u8],
    header: &str,
) -> bool {
    let signatures: Vec<Vec<u8>> = header
        .split(',')
        .filter_map(|signature| signature.trim().strip_prefix("v1="))
        .filter_map(hex_bytes)
        .collect();
    secrets.into_iter().any(|secret| {
        signatures.iter().any(|signature| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
                return false;
            };
            mac.update(body);
            mac.verify_slice(signature).is_ok()
        })
    })
}

/// `text` as bytes, when it is hexadecimal of an even length.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

/// A page of alert 12 of "Web shop 2.0" at `level`, with a risk and its contingency (for the
/// pager senders' tests).
#[cfg(test)]
pub(super) fn sample_event(action: PagerAction, level: usize, contingency: &str) -> PagerEvent {
    use crate::core::message::{AlertFacts, CheckFacts, HowToAcknowledge};
    let at: Timestamp = "2030-01-01T20:00:00Z".parse().unwrap();
    PagerEvent {
        action,
        key: crate::core::message::pager_key("Web shop 2.0", 12),
        summary: "[CRITICAL] Checkout error rate — Web shop 2.0".to_string(),
        alert: Box::new(AlertBody {
            kind: "opened".to_string(),
            launch: "Web shop 2.0".to_string(),
            alert: AlertFacts {
                id: 12,
                key: "check:checkout".to_string(),
                title: "Checkout error rate".to_string(),
                severity: Severity::Critical,
                reason: "value 0.2 > 0.05".to_string(),
                opened_at: at,
                acknowledged: None,
                resolved_at: None,
            },
            check: Some(CheckFacts {
                id: "checkout".to_string(),
                name: "Checkout error rate".to_string(),
                kind: "prometheus".to_string(),
                probes: "sum(rate(errors[1m]))".to_string(),
            }),
            value: Some("20 % (fails above 5 %)".to_string()),
            value_now: Some(0.2),
            value_at_opening: Some(0.2),
            phase: crate::domain::Phase::Hypercare,
            level,
            risks: vec![RiskFacts {
                id: "payments".to_string(),
                title: "Payments".to_string(),
                contingency: contingency.to_string(),
            }],
            rollback_recommended: false,
            rollback_procedure: None,
            recipients: vec!["Bob".to_string()],
            also_told: Vec::new(),
            next_level: None,
            steps_running: Vec::new(),
            note: None,
            status_url: "https://golive.shop.example/#alert-12".to_string(),
            acknowledge: HowToAcknowledge {
                cli: "golive ack 12".to_string(),
                api: "/api/v1/alerts/12/ack".to_string(),
            },
            sent_at: at,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_carries_the_alert_and_an_acknowledgement_only_its_key() {
        let trigger = Event::of(
            &sample_event(PagerAction::Trigger, 2, "Switch provider"),
            "rk",
        );
        let payload = trigger.payload.as_ref().expect("a trigger's payload");
        assert_eq!(trigger.dedup_key, "golive-web-shop-2-0-12");
        assert_eq!(payload.severity, EventSeverity::Critical);
        assert_eq!(payload.group, "hypercare");
        assert_eq!(payload.component.as_deref(), Some("checkout"));
        assert_eq!(payload.custom_details.level, 2);
        assert_eq!(
            payload.custom_details.contingency.as_deref(),
            Some("Payments: Switch provider")
        );
        assert_eq!(
            trigger.links[0].href,
            "https://golive.shop.example/#alert-12"
        );
        let json = serde_json::to_value(&trigger).unwrap();
        assert_eq!(json["event_action"], "trigger");
        let ack = serde_json::to_value(Event::of(
            &sample_event(PagerAction::Acknowledge, 2, ""),
            "rk",
        ))
        .unwrap();
        assert_eq!(ack["event_action"], "acknowledge");
        assert!(ack.get("payload").is_none(), "{ack}");
        let mut long = sample_event(PagerAction::Trigger, 1, "");
        long.alert.alert.reason = "x".repeat(5000);
        let payload = Event::of(&long, "rk").payload.unwrap();
        assert_eq!(payload.summary.chars().count(), SUMMARY_MAX_CHARS);
    }

    #[test]
    fn a_signature_from_the_current_or_the_next_secret_is_accepted() {
        let secret = Secret::new("whsec");
        let other = Secret::new("other");
        let body = br#"{"event":{}}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec").unwrap();
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let good = format!("v1={hex}");
        assert!(verify_signature([&secret], body, &good));
        assert!(verify_signature(
            [&secret],
            body,
            &format!("v1=00ff, {good}")
        ));
        assert!(verify_signature([&other, &secret], body, &good));
        assert!(!verify_signature([&other], body, &good));
        assert!(!verify_signature([&secret], b"{}", &good));
        assert!(!verify_signature([&secret], body, &format!("v2={hex}")));
        assert!(!verify_signature([&secret], body, "v1=zz"));
        assert!(!verify_signature([&secret], body, ""));
    }

    #[test]
    fn long_text_is_cut_to_the_limit_in_characters() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("äöüß", 3), "äö…");
        assert_eq!(
            cut(&"x".repeat(2000), SUMMARY_MAX_CHARS).chars().count(),
            1024
        );
    }
}
