//! Opsgenie's Alert API: each step of a golive alert's life as a request about one Opsgenie alert
//! whose `alias` is the golive alert's stable key. Opening (and each later level, or an
//! acknowledgement that lapsed) creates it — Opsgenie deduplicates a create whose alias is open,
//! counting it and keeping its `note` (the new level) in the alert's log —, an acknowledgement in
//! golive acknowledges it (`POST /v2/alerts/{alias}/acknowledge?identifierType=alias`), a
//! resolution closes it (`/close`). Priorities: critical P1, warning P3, info P5.
//!
//! Every request carries `Authorization: GenieKey <key>`; the key is read once, when the sender
//! is made, and never appears in an error, a log line or a description. Opsgenie answers `202`
//! when it accepted a request (it processes it later).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::pagerduty::{contingencies, cut};
use super::{Delivered, DeliveryError, http};
use crate::core::message::{AlertBody, PagerAction, PagerEvent};
use crate::domain::Secret;
use crate::plan::alerting::OpsgenieChannel;
use crate::plan::checks::Severity;
use crate::secrets::read_secret;

/// Opsgenie's limits, in characters.
pub const MESSAGE_MAX: usize = 130;
pub const ALIAS_MAX: usize = 512;
pub const DESCRIPTION_MAX: usize = 15_000;
pub const DETAILS_MAX: usize = 8_000;
const ENTITY_MAX: usize = 512;
const NOTE_MAX: usize = 25_000;
const USER_MAX: usize = 100;

/// Sends an alert's life to one Opsgenie account.
#[derive(Debug, Clone)]
pub struct OpsgenieSender {
    client: reqwest::Client,
    /// The API's base address, without a trailing slash.
    base: String,
    timeout: Duration,
    /// The `Authorization` header, or why every send fails.
    authorization: Result<HeaderValue, String>,
}

impl OpsgenieSender {
    /// A sender for `channel`, reading its API key now. It never fails: a missing key is
    /// remembered and every send returns it as a permanent error.
    pub fn new(channel: &OpsgenieChannel, client: reqwest::Client) -> OpsgenieSender {
        let authorization = read_secret(&channel.api_key)
            .map_err(|reason| format!("opsgenie api_key unavailable: {reason}"))
            .and_then(|key: Secret| {
                let mut value = HeaderValue::from_str(&format!("GenieKey {}", key.expose()))
                    .map_err(|_| "opsgenie api_key is not a valid header value".to_string())?;
                value.set_sensitive(true);
                Ok(value)
            });
        OpsgenieSender {
            client,
            base: channel.url.trim_end_matches('/').to_string(),
            timeout: channel.timeout,
            authorization,
        }
    }

    /// Sends `event` as a create, an acknowledgement or a close. 2xx is delivered; 429, 5xx,
    /// timeouts and connection problems are retried; other answers (a refused request, a wrong
    /// key) are permanent.
    pub async fn send(&self, event: &PagerEvent) -> Result<Delivered, DeliveryError> {
        let authorization = self
            .authorization
            .as_ref()
            .map_err(|reason| DeliveryError::Permanent(reason.clone()))?;
        let (url, body) = match event.action {
            PagerAction::Trigger => (
                format!("{}/v2/alerts", self.base),
                serde_json::to_vec(&CreateAlert::of(event)),
            ),
            PagerAction::Acknowledge | PagerAction::Resolve => {
                let verb = if event.action == PagerAction::Acknowledge {
                    "acknowledge"
                } else {
                    "close"
                };
                (
                    self.alert_url(&event.key, verb)?,
                    serde_json::to_vec(&AlertAction::of(event)),
                )
            }
        };
        let body = body.map_err(|error| {
            DeliveryError::Permanent(format!("cannot encode the request: {error}"))
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization.clone());
        http::post_json(&self.client, &url, &headers, body, self.timeout).await
    }

    /// `{base}/v2/alerts/{alias}/{verb}?identifierType=alias`, the alias encoded as a path segment.
    fn alert_url(&self, alias: &str, verb: &str) -> Result<String, DeliveryError> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|error| DeliveryError::Permanent(format!("invalid opsgenie url: {error}")))?;
        url.path_segments_mut()
            .map_err(|()| DeliveryError::Permanent("invalid opsgenie url".into()))?
            .pop_if_empty()
            .extend(["v2", "alerts", alias, verb]);
        url.query_pairs_mut().append_pair("identifierType", "alias");
        Ok(url.to_string())
    }

    /// E.g. `opsgenie at api.opsgenie.com` (the host only).
    pub fn describe(&self) -> String {
        match reqwest::Url::parse(&self.base)
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
        {
            Some(host) => format!("opsgenie at {host}"),
            None => "opsgenie".to_string(),
        }
    }

    /// Why every send will fail (a missing key), for a warning at start.
    pub fn setup_problem(&self) -> Option<&str> {
        self.authorization.as_ref().err().map(String::as_str)
    }
}

/// `P1` (highest) to `P5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

impl From<Severity> for Priority {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Critical => Priority::P1,
            Severity::Warning => Priority::P3,
            Severity::Info => Priority::P5,
        }
    }
}

/// `POST /v2/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateAlert {
    /// At most [`MESSAGE_MAX`] characters.
    pub message: String,
    pub alias: String,
    pub description: String,
    pub tags: Vec<String>,
    /// At most [`DETAILS_MAX`] characters, keys and values together.
    pub details: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    pub source: String,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The body of `/acknowledge` and `/close`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CreateAlert {
    fn of(event: &PagerEvent) -> CreateAlert {
        let alert = &event.alert;
        let note = (alert.level > 1).then(|| {
            let mut note = format!("golive: {} (level {})", event.summary, alert.level);
            if let Some(next) = &alert.next_level {
                note.push_str(&format!("; next: {next}"));
            }
            cut(&note, NOTE_MAX)
        });
        CreateAlert {
            message: cut(
                &format!("{}: {}", alert.alert.title, alert.launch),
                MESSAGE_MAX,
            ),
            alias: cut(&event.key, ALIAS_MAX),
            description: cut(&description(event), DESCRIPTION_MAX),
            tags: vec![
                "golive".to_string(),
                alert.alert.severity.as_str().to_string(),
                alert.phase.as_str().to_string(),
            ],
            details: details(alert),
            entity: Some(cut(
                alert
                    .check
                    .as_ref()
                    .map_or(&alert.alert.key, |check| &check.id),
                ENTITY_MAX,
            )),
            source: "golive".to_string(),
            priority: alert.alert.severity.into(),
            note,
        }
    }
}

impl AlertAction {
    fn of(event: &PagerEvent) -> AlertAction {
        let alert = &event.alert;
        let user = alert
            .alert
            .acknowledged
            .as_ref()
            .filter(|_| event.action == PagerAction::Acknowledge)
            .map(|ack| cut(&ack.by, USER_MAX));
        AlertAction {
            user,
            source: "golive".to_string(),
            note: Some(cut(
                &alert
                    .note
                    .clone()
                    .unwrap_or_else(|| format!("golive: {}", event.summary)),
                NOTE_MAX,
            )),
        }
    }
}

/// What happened and what to do, as the alert's description.
fn description(event: &PagerEvent) -> String {
    let alert = &event.alert;
    let mut lines = vec![event.summary.clone(), alert.alert.reason.clone()];
    if let Some(value) = &alert.value {
        lines.push(format!("Value: {value}"));
    }
    lines.push(format!(
        "Phase: {}; level {}",
        alert.phase.as_str(),
        alert.level
    ));
    if let Some(contingency) = contingencies(&alert.risks) {
        lines.push(format!("Contingency:\n{contingency}"));
    }
    if let Some(procedure) = alert.rollback_procedure.as_ref() {
        lines.push(format!("Rollback recommended:\n{procedure}"));
    }
    lines.push(format!("Status page: {}", alert.status_url));
    lines.push(format!("Acknowledge in golive: {}", alert.acknowledge.cli));
    lines.join("\n")
}

/// The alert's facts as Opsgenie's key-value details, within [`DETAILS_MAX`] characters (the
/// contingency is cut first: the description carries it whole).
fn details(alert: &AlertBody) -> BTreeMap<String, String> {
    let mut details = BTreeMap::new();
    details.insert("launch".to_string(), cut(&alert.launch, 200));
    details.insert("golive_alert".to_string(), alert.alert.id.to_string());
    details.insert("phase".to_string(), alert.phase.as_str().to_string());
    details.insert("level".to_string(), alert.level.to_string());
    if let Some(check) = &alert.check {
        details.insert("check".to_string(), cut(&check.id, 200));
    }
    let risks: Vec<&str> = alert.risks.iter().map(|risk| risk.id.as_str()).collect();
    if !risks.is_empty() {
        details.insert("risks".to_string(), cut(&risks.join(", "), 500));
    }
    details.insert(
        "rollback_recommended".to_string(),
        alert.rollback_recommended.to_string(),
    );
    let used: usize = details
        .iter()
        .map(|(key, value)| key.chars().count() + value.chars().count())
        .sum();
    if let Some(contingency) = contingencies(&alert.risks) {
        let room = DETAILS_MAX.saturating_sub(used + "contingency".len());
        if room > 1 {
            details.insert("contingency".to_string(), cut(&contingency, room));
        }
    }
    details
}

#[cfg(test)]
mod tests {
    use super::super::pagerduty::sample_event;
    use super::*;

    #[test]
    fn a_create_stays_within_opsgenies_limits_and_maps_the_priority() {
        let mut event = sample_event(PagerAction::Trigger, 1, &"contingency ".repeat(2000));
        event.alert.alert.title = "T".repeat(400);
        let create = CreateAlert::of(&event);
        assert_eq!(create.message.chars().count(), MESSAGE_MAX);
        assert_eq!(create.alias, "golive-web-shop-2-0-12");
        assert_eq!(create.priority, Priority::P1);
        assert!(create.note.is_none(), "level 1 has no note");
        let details: usize = create
            .details
            .iter()
            .map(|(key, value)| key.chars().count() + value.chars().count())
            .sum();
        assert!(details <= DETAILS_MAX, "{details}");
        assert!(create.details["contingency"].ends_with('…'));
        assert!(create.description.chars().count() <= DESCRIPTION_MAX);
        let escalated = CreateAlert::of(&sample_event(PagerAction::Trigger, 2, "Switch"));
        assert!(escalated.note.unwrap().contains("level 2"));
        let mut info = sample_event(PagerAction::Trigger, 1, "");
        info.alert.alert.severity = Severity::Info;
        assert_eq!(CreateAlert::of(&info).priority, Priority::P5);
    }

    #[test]
    fn the_alias_goes_into_the_path_encoded() {
        let sender = OpsgenieSender {
            client: reqwest::Client::new(),
            base: "http://127.0.0.1:9/og".to_string(),
            timeout: Duration::from_secs(1),
            authorization: Err("none".into()),
        };
        assert_eq!(
            sender.alert_url("golive-shop-1", "close").unwrap(),
            "http://127.0.0.1:9/og/v2/alerts/golive-shop-1/close?identifierType=alias"
        );
        assert_eq!(
            sender.alert_url("a/b c", "acknowledge").unwrap(),
            "http://127.0.0.1:9/og/v2/alerts/a%2Fb%20c/acknowledge?identifierType=alias"
        );
    }
}
