//! The deployment runbook's routes: `GET /api/v1/runbook` (every step, planned and actual side by
//! side, with the rollback procedure that applies now) and `POST /api/v1/runbook/{id}/start|done|
//! skip|fail` (bearer token; 404 for an unknown step, 409 with the blockers when dependencies are
//! not done, 400 naming `reason` when one is needed).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use super::handlers::author;
use super::params::ApiPath;
use crate::core::health::Health;
use crate::core::runbook::{self, StepAction, StepRequest};

/// The longest reason accepted.
const REASON_MAX: usize = 4 * 1024;

/// `GET /api/v1/runbook`.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let snapshot = state.engine.snapshot();
    let now = state.clock.now();
    let steps: Vec<Value> = runbook::view(&state.plan, &snapshot.runbook, snapshot.phase(), now)
        .into_iter()
        .map(|view| {
            let verify: Vec<Value> = view
                .verify
                .iter()
                .map(|id| {
                    let health = snapshot
                        .checks
                        .get(id)
                        .map_or(Health::Unknown, |gate| gate.health);
                    json!({"check": id, "health": health})
                })
                .collect();
            let mut value = json!(view);
            value["verify"] = json!(verify);
            value
        })
        .collect();
    let (point, procedure) = runbook::applicable_rollback(&state.plan, &snapshot.runbook);
    Json(json!({
        "phase": snapshot.phase(),
        "timezone": state.plan.launch.timezone_name,
        "grace_seconds": state.plan.runbook.grace.as_secs(),
        "escalate_after_seconds": state.plan.runbook.escalate_after.as_secs(),
        "steps": steps,
        "rollback": {"after_rollback_point": point, "procedure": procedure},
    }))
}

/// The body of a step change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// Required to skip, fail or force a start.
    reason: Option<String>,
    /// Start although dependencies are not done (needs `reason`).
    #[serde(default)]
    force: bool,
    author: Option<String>,
}

pub async fn start(
    state: State<AppState>,
    id: ApiPath<String>,
    writer: Writer,
    body: JsonBody<StepBody>,
) -> Result<Json<Value>, ApiError> {
    change(state, id, writer, body, StepAction::Start).await
}

pub async fn done(
    state: State<AppState>,
    id: ApiPath<String>,
    writer: Writer,
    body: JsonBody<StepBody>,
) -> Result<Json<Value>, ApiError> {
    change(state, id, writer, body, StepAction::Done).await
}

pub async fn skip(
    state: State<AppState>,
    id: ApiPath<String>,
    writer: Writer,
    body: JsonBody<StepBody>,
) -> Result<Json<Value>, ApiError> {
    change(state, id, writer, body, StepAction::Skip).await
}

pub async fn fail(
    state: State<AppState>,
    id: ApiPath<String>,
    writer: Writer,
    body: JsonBody<StepBody>,
) -> Result<Json<Value>, ApiError> {
    change(state, id, writer, body, StepAction::Fail).await
}

async fn change(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    writer: Writer,
    JsonBody(body): JsonBody<StepBody>,
    action: StepAction,
) -> Result<Json<Value>, ApiError> {
    if body
        .reason
        .as_deref()
        .is_some_and(|reason| reason.len() > REASON_MAX)
    {
        return Err(ApiError::field(
            "reason",
            format!("`reason` is longer than {} KiB", REASON_MAX / 1024),
        ));
    }
    if body.force && action != StepAction::Start {
        return Err(ApiError::field(
            "force",
            "`force` only applies to starting a step (past unfinished dependencies)",
        ));
    }
    let request = StepRequest {
        step: id,
        action,
        force: body.force,
        reason: body.reason,
        author: author(body.author, &writer)?,
    };
    let outcome = state.engine.change_step(request).await?;
    Ok(Json(json!(outcome)))
}
