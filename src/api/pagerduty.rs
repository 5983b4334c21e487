//! `POST /api/v1/integrations/pagerduty`: PagerDuty's V3 webhooks, so an acknowledgement made in
//! PagerDuty acknowledges the golive alert. The request carries no bearer token: its
//! `X-PagerDuty-Signature` (an HMAC of the exact body under a PagerDuty channel's
//! `webhook_secret`) is its authentication; a missing or wrong one is 401 and changes nothing.
//!
//! An `incident.acknowledged` event whose incident key is a golive alert's of this launch
//! (`core::message::pager_key`) acknowledges it through the engine like any acknowledgement, as
//! the PagerDuty user who took it (`via pagerduty`), so everyone golive notified is told. Every
//! other event, and incidents that are not golive's or whose alert is no longer open, are
//! answered 202 with why they were ignored: PagerDuty disables a subscription after three
//! deliveries refused with a 4xx, and a subscription may cover incidents that are not golive's.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use super::AppState;
use super::body::{RawBody, parse_json};
use super::error::ApiError;
use crate::core::message::alert_of_pager_key;
use crate::engine::EngineError;
use crate::notify::pagerduty::{self, ACKNOWLEDGED, SIGNATURE_HEADER, WebhookDelivery};

/// What golive did with a webhook.
#[derive(Debug, Serialize)]
pub struct WebhookOutcome {
    /// `acknowledged` or `ignored`.
    pub outcome: &'static str,
    /// The golive alert acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<i64>,
    /// Why nothing was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl WebhookOutcome {
    fn ignored(reason: impl Into<String>) -> (StatusCode, Json<WebhookOutcome>) {
        (
            StatusCode::ACCEPTED,
            Json(WebhookOutcome {
                outcome: "ignored",
                alert: None,
                reason: Some(reason.into()),
            }),
        )
    }
}

/// `POST /api/v1/integrations/pagerduty`.
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<WebhookOutcome>), ApiError> {
    let (plan, senders) = state.senders.with_plan();
    let secrets = senders.pagerduty_webhook_secrets();
    if secrets.is_empty() {
        return Err(ApiError::not_found(
            "acknowledgements from PagerDuty are off: no pagerduty channel has a `webhook_secret`",
        ));
    }
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !pagerduty::verify_signature(secrets.iter().map(|(_, secret)| *secret), &body, signature) {
        tracing::warn!(
            "a PagerDuty webhook was refused: its {SIGNATURE_HEADER} does not match any pagerduty channel's webhook_secret"
        );
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "the {SIGNATURE_HEADER} header is missing or matches no pagerduty channel's webhook_secret"
            ),
        ));
    }
    let delivery: WebhookDelivery = parse_json(&body)?;
    let event = delivery.event;
    if event.event_type != ACKNOWLEDGED {
        return Ok(WebhookOutcome::ignored(format!(
            "golive acts only on {ACKNOWLEDGED}, not on {}",
            event.event_type
        )));
    }
    let data = event
        .data
        .ok_or_else(|| ApiError::field("event.data", "an incident event needs its `data`"))?;
    let Some(key) = data.incident_key.filter(|key| !key.is_empty()) else {
        return Ok(WebhookOutcome::ignored(
            "the incident has no incident_key: golive did not open it",
        ));
    };
    let Some(id) = alert_of_pager_key(&plan.launch.name, &key) else {
        return Ok(WebhookOutcome::ignored(format!(
            "incident key `{}` is not a golive alert of this launch",
            pagerduty::cut(&key, 100)
        )));
    };
    let by = event
        .agent
        .and_then(|agent| agent.summary)
        .map(|name| pagerduty::cut(name.trim(), 100))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "PagerDuty".to_string());
    match state.engine.acknowledge(id, by, None, "pagerduty").await {
        Ok(alert) => Ok((
            StatusCode::OK,
            Json(WebhookOutcome {
                outcome: "acknowledged",
                alert: Some(alert.id),
                reason: None,
            }),
        )),
        Err(EngineError::NotFound(reason)) => Ok(WebhookOutcome::ignored(reason)),
        Err(error) => Err(error.into()),
    }
}
