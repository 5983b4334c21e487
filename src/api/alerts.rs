//! Alert, silence and acknowledgement-link routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use super::handlers::{author, read};
use super::params::{ApiPath, ApiQuery};
use crate::ack_link::AckTarget;
use crate::core::alert::{Silence, Window};
use crate::engine::EngineError;
use crate::plan::checks::Severity;
use crate::report::alert_message::escape;
use crate::wire;

#[derive(Deserialize)]
pub struct AlertParams {
    /// `open` (default) or `all`.
    state: Option<String>,
    limit: Option<usize>,
}

pub async fn list_alerts<S: super::standby_reads::Reads>(
    State(state): State<S>,
    ApiQuery(params): ApiQuery<AlertParams>,
) -> Result<Json<wire::Alerts>, ApiError> {
    let only_open = match params.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::field(
                "state",
                format!("unknown state `{other}`; use open or all"),
            ));
        }
    };
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let alerts = read(&state, move |reader| reader.alerts(only_open, limit)).await?;
    Ok(Json(wire::Alerts {
        alerts: super::answers::alerts(&alerts),
        timezone: state.plan().launch.timezone_name.clone(),
    }))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.trim_start_matches('#')
        .parse::<i64>()
        .map_err(|_| ApiError::field("id", format!("`{id}` is not an alert number")))
}

pub async fn get_alert<S: super::standby_reads::Reads>(
    State(state): State<S>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<wire::OneAlert>, ApiError> {
    let id = parse_id(&id)?;
    let (alert, notifications) = read(&state, move |reader| {
        Ok((reader.alert(id)?, reader.alert_outbox(id)?))
    })
    .await?;
    let alert = alert.ok_or_else(|| ApiError::not_found(format!("no alert #{id}")))?;
    let notifications = notifications
        .iter()
        .map(|row| wire::Notification {
            id: row.id,
            channel: row.channel.clone(),
            kind: super::answers::name(&row.kind),
            status: row.status.clone(),
            attempts: row.attempts,
            created_at: row.created_at,
            finished_at: row.finished_at,
            answer: row.answer.clone(),
            last_error: row.last_error.clone(),
            to: row.payload.email_recipients().to_vec(),
        })
        .collect();
    Ok(Json(wire::OneAlert {
        alert: wire::Alert::from(&alert),
        notifications,
    }))
}

pub async fn acknowledge(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::Acknowledge>,
) -> Result<Json<wire::AlertAcknowledged>, ApiError> {
    let id = parse_id(&id)?;
    let by = author(body.author, &writer)?;
    let alert = state.engine.acknowledge(id, by, body.note, "api").await?;
    Ok(Json(wire::AlertAcknowledged {
        alert: wire::Alert::from(&alert),
    }))
}

/// The most alerts one request acknowledges (a storm is a few hundred at most).
const ACK_MANY_MAX: usize = 1000;

/// `POST /api/v1/alerts/ack`: acknowledges several alerts at once (`{"ids": [1, 2, 3]}`); the
/// answer says which were acknowledged now, which someone had acknowledged already, and which are
/// not open.
pub async fn acknowledge_many(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::AcknowledgeMany>,
) -> Result<Json<wire::Acknowledgements>, ApiError> {
    if body.ids.is_empty() {
        return Err(ApiError::field(
            "ids",
            "name at least one alert to acknowledge, e.g. [12, 13]",
        ));
    }
    if body.ids.len() > ACK_MANY_MAX {
        return Err(ApiError::field(
            "ids",
            format!("at most {ACK_MANY_MAX} alerts at once"),
        ));
    }
    if let Some(id) = body.ids.iter().find(|id| **id < 1) {
        return Err(ApiError::field(
            "ids",
            format!("`{id}` is not an alert number"),
        ));
    }
    let by = author(body.author, &writer)?;
    let outcome = state
        .engine
        .acknowledge_many(body.ids, by, body.note, "api")
        .await?;
    Ok(Json(wire::Acknowledgements::from(&outcome)))
}

pub async fn list_silences(
    State(state): State<AppState>,
) -> Result<Json<wire::Silences>, ApiError> {
    let now = state.clock.now();
    let silences = state
        .engine
        .silences()
        .await?
        .into_iter()
        .map(|silence| wire::Silence {
            active: Some(silence.active(now)),
            ..wire::Silence::from(&silence)
        })
        .collect();
    Ok(Json(wire::Silences { silences }))
}

pub async fn create_silence(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::NewSilence>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let parse_time = |field: &'static str, text: &str| {
        text.parse::<Timestamp>().map_err(|_| {
            ApiError::field(
                field,
                format!("`{text}` is not a time; write RFC 3339, e.g. 2026-12-01T21:00:00+01:00"),
            )
        })
    };
    let start = match body.start.as_deref() {
        Some(text) => parse_time("start", text)?,
        None => now,
    };
    // The field the end came from, so a silence that would not last is blamed on what was sent.
    let (end, end_field) = match (body.end.as_deref(), body.duration.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "duration",
                "give `end` or `duration`, not both",
            ));
        }
        (Some(text), None) => (parse_time("end", text)?, "end"),
        (None, Some(text)) => {
            let duration: SignedDuration = text.trim().parse().map_err(|_| {
                ApiError::field(
                    "duration",
                    format!("`{text}` is not a duration; write e.g. 30m or 2h"),
                )
            })?;
            if duration <= SignedDuration::ZERO {
                return Err(ApiError::field(
                    "duration",
                    format!("`{text}` is not a positive duration; write e.g. 30m or 2h"),
                ));
            }
            let end = start
                .checked_add(duration)
                .map_err(|_| ApiError::field("duration", "the duration is too long"))?;
            (end, "duration")
        }
        (None, None) => {
            return Err(ApiError::field(
                "end",
                "say when the silence ends: `end` or `duration`",
            ));
        }
    };
    if end <= start {
        return Err(ApiError::field(
            end_field,
            "the silence must end after it starts",
        ));
    }
    if end <= now {
        return Err(ApiError::field(
            end_field,
            "the silence would already be over",
        ));
    }
    for check in &body.checks {
        if !state.plan().checks.iter().any(|known| &known.id == check) {
            let hint =
                crate::domain::closest(check, state.plan().checks.iter().map(|c| c.id.as_str()))
                    .map_or_else(String::new, |near| format!("; did you mean `{near}`?"));
            return Err(ApiError::field(
                "checks",
                format!("unknown check `{check}`{hint}"),
            ));
        }
    }
    let severities = body
        .severities
        .iter()
        .map(|text| {
            text.parse::<Severity>().map_err(|_| {
                ApiError::field(
                    "severities",
                    format!("unknown severity `{text}`; use info, warning or critical"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if body.comment.trim().is_empty() {
        return Err(ApiError::field(
            "comment",
            "say why the alerts are silenced",
        ));
    }
    let id = body
        .id
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("silence-{}", now.as_millisecond()));
    let silence = Silence {
        id,
        checks: body.checks,
        severities,
        window: Window::Once { start, end },
        author: author(body.author, &writer)?,
        comment: body.comment.trim().to_string(),
    };
    let silence = state.engine.add_silence(silence).await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::SilenceCreated {
            silence: wire::Silence::from(&silence),
        }),
    )
        .into_response())
}

pub async fn delete_silence(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    writer: Writer,
) -> Result<Json<wire::SilenceRemoved>, ApiError> {
    state.engine.remove_silence(id.clone(), writer.0).await?;
    Ok(Json(wire::SilenceRemoved { removed: id }))
}

/// The frame of every acknowledgement page: the launch's name above the title, so a phone user
/// opening a link from an email knows which launch it is about, and a link to the status page
/// (served by this same daemon, so a relative link works whichever address the email used).
struct AckFrame<'a> {
    launch: &'a str,
    /// Where on the status page the alert (or the open alerts) are: `/#alert-7`, `/#alerts`.
    status_link: String,
}

impl AckFrame<'_> {
    fn page(&self, status: StatusCode, title: &str, body: &str) -> Response {
        let html = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · {launch}</title></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;color:#1a1a1a\"><p id=\"launch\" style=\"margin:0;color:#4a4a4a\">{launch} · golive</p><h1 style=\"margin-top:.25em\">{title}</h1>{body}\
             <p><a id=\"status-link\" href=\"{link}\">Open the status page</a></p></body></html>",
            title = escape(title),
            launch = escape(self.launch),
            link = escape(&self.status_link),
        );
        (
            status,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            Html(html),
        )
            .into_response()
    }
}

fn link_error(frame: &AckFrame<'_>, error: EngineError) -> Response {
    match error {
        EngineError::Field(error) => frame.page(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            &format!(
                "<p>{}.</p><p>Acknowledge with <code>golive ack ID</code> or the API instead.</p>",
                escape(&error.message)
            ),
        ),
        EngineError::NotFound(message) => frame.page(
            StatusCode::CONFLICT,
            "Nothing to acknowledge",
            &format!("<p>{}.</p>", escape(&message)),
        ),
        other => frame.page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            &format!("<p>{}.</p>", escape(&other.to_string())),
        ),
    }
}

/// An alert as a line of a confirmation page.
fn alert_item(alert: &crate::core::alert::Alert, now: jiff::Timestamp) -> String {
    let taken = alert
        .acknowledged
        .as_ref()
        .filter(|_| alert.is_acknowledged(now))
        .map(|ack| {
            format!(
                " <strong>Already acknowledged by {}.</strong>",
                escape(&ack.by)
            )
        })
        .unwrap_or_default();
    format!("<li>#{} {}{taken}</li>", alert.id, alert_summary(alert))
}

/// An alert in the words every acknowledgement page uses: its title in bold, its severity and
/// why it opened.
fn alert_summary(alert: &crate::core::alert::Alert) -> String {
    format!(
        "<strong>{}</strong> ({}) — {}",
        escape(&alert.title),
        alert.severity,
        escape(&alert.reason)
    )
}

/// The confirmation page of a one-click link: what it will acknowledge (its alert, or every open
/// alert of its group). Opening it changes nothing (mail scanners prefetch links); its button
/// POSTs to the same address.
pub async fn ack_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let now = state.clock.now();
    let mut frame = AckFrame {
        launch: &state.plan().launch.name,
        status_link: "/#alerts".to_string(),
    };
    let view = match state.engine.check_ack_link(token).await {
        Err(error) => return link_error(&frame, error),
        Ok(view) => view,
    };
    if let AckTarget::Alert(id) = &view.claim.target {
        frame.status_link = format!("/#alert-{id}");
    }
    let group = matches!(view.claim.target, AckTarget::Group(_));
    match (view.alerts.as_slice(), &view.claim.target) {
        ([], AckTarget::Alert(id)) => frame.page(
            StatusCode::OK,
            "Nothing to acknowledge",
            &format!("<p>Alert #{id} is resolved or was already closed.</p>"),
        ),
        ([], AckTarget::Group(_)) => frame.page(
            StatusCode::OK,
            "Nothing to acknowledge",
            "<p>The alerts of this link are resolved.</p>",
        ),
        ([alert], _) if !group => {
            let summary = format!("<p>{}</p>", alert_summary(alert));
            match alert.acknowledged.as_ref().filter(|_| alert.is_acknowledged(now)) {
                // Nothing left to do: no button that would only say so again.
                Some(ack) => frame.page(
                    StatusCode::OK,
                    &format!("Alert #{} is acknowledged", alert.id),
                    &format!(
                        "{summary}<p><strong>Already acknowledged by {}</strong> at {}. Its escalation is stopped; nothing to do here.</p>",
                        escape(&ack.by),
                        crate::human::time_near(ack.at, now, &state.plan().launch.timezone)
                    ),
                ),
                None => frame.page(
                    StatusCode::OK,
                    &format!("Acknowledge alert #{}?", alert.id),
                    &format!(
                        "{summary}<p>Acknowledging stops the escalation and tells everyone already notified that you took it.</p>\
                         <form method=\"post\"><button type=\"submit\" style=\"font-size:1.2em;padding:.5em 1em\">Acknowledge</button></form>"
                    ),
                ),
            }
        }
        (alerts, _) => {
            let count = alerts.len();
            let items: String = alerts.iter().map(|alert| alert_item(alert, now)).collect();
            let waiting = alerts
                .iter()
                .filter(|alert| !alert.is_acknowledged(now))
                .count();
            if waiting == 0 {
                return frame.page(
                    StatusCode::OK,
                    &format!("The {count} open alert{} are acknowledged", plural(count)),
                    &format!(
                        "<p>Every alert of this burst still open is acknowledged already; nothing to do here.</p><ul>{items}</ul>"
                    ),
                );
            }
            frame.page(
                StatusCode::OK,
                &format!("Acknowledge {waiting} open alert{}?", plural(waiting)),
                &format!(
                    "<p>These alerts of one burst are open:</p><ul>{items}</ul><p>Acknowledging stops their escalation and tells everyone already notified that you took them. Those acknowledged already stay as they are.</p>\
                     <form method=\"post\"><button type=\"submit\" style=\"font-size:1.2em;padding:.5em 1em\">Acknowledge {}</button></form>",
                    if waiting == 1 { "it".to_string() } else if waiting == count { format!("all {count}") } else { format!("these {waiting}") }
                ),
            )
        }
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The confirmation page's button: acknowledges (once: the link is used up) and says what it did.
pub async fn ack_submit(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let checked_at = state.clock.now();
    let mut frame = AckFrame {
        launch: &state.plan().launch.name,
        status_link: "/#alerts".to_string(),
    };
    let outcome = match state.engine.ack_link(token).await {
        Ok(outcome) => outcome,
        Err(error) => return link_error(&frame, error),
    };
    if let ([alert], []) | ([], [alert]) = (
        outcome.acknowledged.as_slice(),
        outcome.already_acknowledged.as_slice(),
    ) {
        frame.status_link = format!("/#alert-{}", alert.id);
    }
    match (
        outcome.acknowledged.as_slice(),
        outcome.already_acknowledged.as_slice(),
    ) {
        // One alert, as before: whoever holds it now.
        ([alert], []) | ([], [alert]) => frame.page(
            StatusCode::OK,
            &format!("Alert #{} acknowledged", alert.id),
            &format!(
                "<p>{} — acknowledged by {}. Escalation stopped; everyone already notified is being told.</p>",
                escape(&alert.title),
                escape(
                    alert
                        .acknowledged
                        .as_ref()
                        .map_or("", |ack| ack.by.as_str())
                )
            ),
        ),
        ([], before) => frame.page(
            StatusCode::OK,
            "Acknowledged already",
            &format!(
                "<p>Someone was faster: these alerts were acknowledged already.</p><ul>{}</ul>",
                before.iter().map(|alert| alert_item(alert, checked_at)).collect::<String>()
            ),
        ),
        (now, before) => {
            let by = now
                .first()
                .and_then(|alert| alert.acknowledged.as_ref())
                .map_or("", |ack| ack.by.as_str());
            let mut body = format!(
                "<p>{} alert{} acknowledged by {}. Escalation stopped; everyone already notified is being told.</p><ul>{}</ul>",
                now.len(),
                plural(now.len()),
                escape(by),
                now.iter().map(alert_item_done).collect::<String>()
            );
            if !before.is_empty() {
                body.push_str(&format!(
                    "<p>Acknowledged before, left as they were:</p><ul>{}</ul>",
                    before.iter().map(|alert| alert_item(alert, checked_at)).collect::<String>()
                ));
            }
            frame.page(
                StatusCode::OK,
                &format!("{} alert{} acknowledged", now.len(), plural(now.len())),
                &body,
            )
        }
    }
}

/// An alert just acknowledged, as a line of the result page.
fn alert_item_done(alert: &crate::core::alert::Alert) -> String {
    format!(
        "<li>#{} <strong>{}</strong> ({})</li>",
        alert.id,
        escape(&alert.title),
        alert.severity
    )
}

/// `POST /api/v1/alertmanager`: Alertmanager's webhook payload; its alerts go through the same
/// escalation policies, keyed by fingerprint, resolving when Alertmanager says resolved.
pub async fn alertmanager_intake(
    State(state): State<AppState>,
    _writer: Writer,
    JsonBody(payload): JsonBody<crate::notify::WebhookPayload>,
) -> Result<Json<Value>, ApiError> {
    use crate::notify::alertmanager::AlertStatus;
    let alerts = payload
        .alerts
        .iter()
        // golive's own alerts, forwarded to an Alertmanager that routes back here, are skipped:
        // they would come back as new alerts without end.
        .filter(|alert| !alert.labels.contains_key("golive_alert"))
        .map(|alert| {
            let severity = alert
                .labels
                .get("severity")
                .and_then(|severity| match severity.to_ascii_lowercase().as_str() {
                    "critical" | "page" | "error" => Some(Severity::Critical),
                    "warning" | "warn" => Some(Severity::Warning),
                    "info" | "none" => Some(Severity::Info),
                    _ => None,
                })
                .unwrap_or(Severity::Warning);
            let name = if alert.name().is_empty() {
                "Alertmanager alert"
            } else {
                alert.name()
            };
            let reason = alert
                .annotations
                .get("summary")
                .or_else(|| alert.annotations.get("description"))
                .cloned()
                .unwrap_or_else(|| {
                    alert
                        .labels
                        .iter()
                        .map(|(key, value)| format!("{key}={value}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            // What tells one alert from another of its name (instance, service, ...), and where
            // it came from, so the page can be traced back without opening Alertmanager.
            let labels: Vec<String> = alert
                .labels
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "alertname" | "severity"))
                .take(8)
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            let mut reason = format!("Alertmanager: {reason}");
            if !labels.is_empty() {
                reason.push_str(&format!(" [{}]", labels.join(", ")));
            }
            if !alert.generator_url.is_empty() {
                reason.push_str(&format!("; source {}", alert.generator_url));
            }
            crate::engine::ExternalAlert {
                key: format!("alertmanager:{}", alert.fingerprint),
                title: name.to_string(),
                severity,
                reason,
                firing: alert.status == AlertStatus::Firing,
                labels: alert.labels.clone(),
            }
        })
        .collect();
    let outcome = state.engine.intake(alerts).await?;
    Ok(Json(json!({ "outcome": outcome })))
}

/// `POST /api/v1/rollback`: records the decision, moves the phase to `rolled_back`, and runs the
/// plan's rollback hook (through the outbox, so it is not lost to a restart).
pub async fn rollback(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::Rollback>,
) -> Result<Json<wire::RolledBack>, ApiError> {
    let by = author(body.author, &writer)?;
    let transition = state.engine.roll_back(body.reason, by).await?;
    // After a runbook rollback point, its procedure applies instead of the plan's.
    let plan = state.plan();
    let (_, procedure) =
        crate::core::runbook::applicable_rollback(&plan, &state.engine.snapshot().runbook);
    Ok(Json(wire::RolledBack {
        transition: wire::Transition::from(&transition),
        hook: state.plan().rollback.hook.is_some(),
        procedure: procedure.to_string(),
    }))
}

/// `POST /api/v1/notify/test`: sends a test message through each channel (or the named ones) now
/// and answers, per channel, delivered or failed with the server's answer. Email goes to everyone
/// an escalation level or the channel names, so each can confirm they receive it.
pub async fn notify_test(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::NotifyTest>,
) -> Result<Json<wire::ChannelTests>, ApiError> {
    // The plan in force and the senders built from it, as one pair.
    let (plan, senders) = state.senders.with_plan();
    for id in &body.channels {
        if !plan
            .alerting
            .channels
            .iter()
            .any(|channel| &channel.id == id)
        {
            let hint =
                crate::domain::closest(id, plan.alerting.channels.iter().map(|c| c.id.as_str()))
                    .map_or_else(String::new, |near| format!("; did you mean `{near}`?"));
            return Err(ApiError::field(
                "channels",
                format!("unknown channel `{id}`{hint}"),
            ));
        }
    }
    let by = author(body.author, &writer)?;
    let now = state.clock.now();
    let results: Vec<wire::ChannelTest> =
        crate::notify::dispatcher::test_channels(&plan, &senders, &body.channels, &by, now)
            .await
            .iter()
            .map(wire::ChannelTest::from)
            .collect();
    let summary = results
        .iter()
        .map(|result| format!("{} {}", result.channel, result.result))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = state
        .engine
        .append(
            crate::core::log::LogKind::Note,
            format!(
                "Communication channels tested: {}",
                if summary.is_empty() {
                    "no channels".to_string()
                } else {
                    summary
                }
            ),
            by,
        )
        .await;
    Ok(Json(wire::ChannelTests { results }))
}

/// What an acknowledgement page may do: its own inline styles and a form posting to itself, nothing
/// else. It must not be framed (a hidden frame could trick a click on "Acknowledge"), and the
/// token in its URL must not leak through a Referer header.
const ACK_PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every acknowledgement-page response (errors included).
pub(super) async fn ack_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, ACK_PAGE_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}
