//! Both directions of golive's Alertmanager integration: forwarding golive's alerts to an
//! existing Alertmanager (`POST {url}/api/v2/alerts`, [`AlertmanagerForwarder`]) and the intake of
//! Alertmanager's webhook notifications ([`WebhookPayload`], version 4), which the API routes
//! through the same escalation policies as golive's own alerts.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::{Delivered, DeliveryError, ForwardedAlert, http};

/// Forwards alerts to one Alertmanager.
#[derive(Debug, Clone)]
pub struct AlertmanagerForwarder {
    client: reqwest::Client,
    /// `{url}/api/v2/alerts`.
    endpoint: String,
    /// The host, for [`AlertmanagerForwarder::describe`].
    host: Option<String>,
    timeout: Duration,
}

impl AlertmanagerForwarder {
    /// A forwarder to the Alertmanager at `url` (its base address, e.g. `http://am:9093`; a
    /// trailing slash is fine), giving up on a request after `timeout`.
    pub fn new(url: &str, timeout: Duration, client: reqwest::Client) -> AlertmanagerForwarder {
        let base = url.trim_end_matches('/');
        AlertmanagerForwarder {
            client,
            endpoint: format!("{base}/api/v2/alerts"),
            host: reqwest::Url::parse(base)
                .ok()
                .and_then(|url| url.host_str().map(str::to_string)),
            timeout,
        }
    }

    /// Posts `alerts` (a firing alert has no `endsAt`; a resolved one has). The answer maps like a
    /// webhook's: 2xx delivered, 408/429/5xx/timeouts/connection problems retryable, other
    /// answers (400 for an alert Alertmanager refuses) permanent.
    pub async fn send(
        &self,
        alerts: &[ForwardedAlert],
        now: jiff::Timestamp,
    ) -> Result<Delivered, DeliveryError> {
        let body = serde_json::to_vec(alerts)
            .map_err(|error| DeliveryError::Permanent(format!("cannot encode alerts: {error}")))?;
        http::post_json(
            &self.client,
            &self.endpoint,
            &HeaderMap::new(),
            body,
            self.timeout,
            now,
        )
        .await
    }

    /// E.g. `alertmanager at am.example` (the host only; the URL may carry credentials).
    pub fn describe(&self) -> String {
        match &self.host {
            Some(host) => format!("alertmanager at {host}"),
            None => "alertmanager".to_string(),
        }
    }
}

/// What Alertmanager POSTs to a webhook receiver (`version` "4"), as golive's intake reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// The payload format, "4" for every current Alertmanager.
    pub version: String,
    /// `{}:{alertname="..."}`: identifies the group, stable across notifications.
    pub group_key: String,
    /// How many alerts were left out because of the receiver's `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// `firing` when at least one alert of the group fires.
    pub status: AlertStatus,
    /// The receiver's name in Alertmanager's configuration.
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's own address, for links back to it.
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of a [`WebhookPayload`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: AlertStatus,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// `0001-01-01T00:00:00Z` while firing with no end known; the end time once resolved.
    pub ends_at: Timestamp,
    /// The rule's link (Prometheus graph), empty when unknown.
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    /// Identifies the alert (a hash of its labels); the intake deduplicates on it.
    pub fingerprint: String,
}

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl WebhookAlert {
    /// The end time when Alertmanager knows one (it sends year 1 for "none").
    pub fn ended_at(&self) -> Option<Timestamp> {
        (self.ends_at.as_second() > 0).then_some(self.ends_at)
    }

    /// The alert's name (label `alertname`), empty when it has none.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notification as Alertmanager 0.25 sends it (captured from a webhook receiver).
    const SAMPLE: &str = r#"{
      "receiver": "golive",
      "status": "firing",
      "alerts": [
        {
          "status": "firing",
          "labels": {"alertname": "HighErrorRate", "instance": "shop-1:8080", "job": "shop", "severity": "critical"},
          "annotations": {"summary": "5xx ratio above 5%", "runbook": "https://wiki.example/5xx"},
          "startsAt": "2026-11-27T15:48:12.123456789Z",
          "endsAt": "0001-01-01T00:00:00Z",
          "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29&g0.tab=1",
          "fingerprint": "c1a0e8a6f2b9d3e4"
        },
        {
          "status": "resolved",
          "labels": {"alertname": "HighErrorRate", "instance": "shop-2:8080", "job": "shop", "severity": "critical"},
          "annotations": {"summary": "5xx ratio above 5%"},
          "startsAt": "2026-11-27T15:40:00Z",
          "endsAt": "2026-11-27T15:47:30.5Z",
          "generatorURL": "",
          "fingerprint": "77b2f1d0aa01c9e5"
        }
      ],
      "groupLabels": {"alertname": "HighErrorRate"},
      "commonLabels": {"alertname": "HighErrorRate", "job": "shop", "severity": "critical"},
      "commonAnnotations": {"summary": "5xx ratio above 5%"},
      "externalURL": "http://alertmanager:9093",
      "version": "4",
      "groupKey": "{}:{alertname=\"HighErrorRate\"}",
      "truncatedAlerts": 0
    }"#;

    #[test]
    fn an_alertmanager_notification_is_read_with_every_field() {
        let payload: WebhookPayload = serde_json::from_str(SAMPLE).expect("payload");
        assert_eq!(payload.version, "4");
        assert_eq!(payload.receiver, "golive");
        assert_eq!(payload.status, AlertStatus::Firing);
        assert_eq!(payload.group_key, "{}:{alertname=\"HighErrorRate\"}");
        assert_eq!(payload.external_url, "http://alertmanager:9093");
        assert_eq!(payload.truncated_alerts, 0);
        assert_eq!(payload.group_labels["alertname"], "HighErrorRate");
        assert_eq!(payload.common_labels["severity"], "critical");
        assert_eq!(payload.common_annotations["summary"], "5xx ratio above 5%");
        assert_eq!(payload.alerts.len(), 2);

        let firing = &payload.alerts[0];
        assert_eq!(firing.status, AlertStatus::Firing);
        assert_eq!(firing.name(), "HighErrorRate");
        assert_eq!(firing.labels["instance"], "shop-1:8080");
        assert_eq!(firing.annotations["runbook"], "https://wiki.example/5xx");
        assert_eq!(
            firing.starts_at,
            "2026-11-27T15:48:12.123456789Z"
                .parse::<Timestamp>()
                .expect("time")
        );
        assert_eq!(firing.ended_at(), None);
        assert!(
            firing
                .generator_url
                .starts_with("http://prometheus:9090/graph")
        );
        assert_eq!(firing.fingerprint, "c1a0e8a6f2b9d3e4");

        let resolved = &payload.alerts[1];
        assert_eq!(resolved.status, AlertStatus::Resolved);
        assert_eq!(
            resolved.ended_at(),
            Some("2026-11-27T15:47:30.5Z".parse::<Timestamp>().expect("time"))
        );
    }

    #[test]
    fn a_payload_without_optional_maps_is_still_read() {
        let payload: WebhookPayload = serde_json::from_str(
            r#"{"version":"4","groupKey":"g","status":"resolved","receiver":"r","alerts":[
                {"status":"resolved","startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T00:05:00Z","fingerprint":"f"}]}"#,
        )
        .expect("payload");
        assert!(payload.common_labels.is_empty());
        assert_eq!(payload.alerts[0].name(), "");
    }

    #[test]
    fn forwarded_alerts_are_posted_to_the_v2_api_and_described_by_host() {
        let forwarder = AlertmanagerForwarder::new(
            "http://am.example:9093/",
            Duration::from_secs(1),
            reqwest::Client::new(),
        );
        assert_eq!(forwarder.endpoint, "http://am.example:9093/api/v2/alerts");
        assert_eq!(forwarder.describe(), "alertmanager at am.example");
    }
}
