//! The deployment runbook's routes: `GET /api/v1/runbook` (every step, planned and actual side by
//! side, with the rollback procedure that applies now) and `POST /api/v1/runbook/{id}/start|done|
//! skip|fail` (bearer token; 404 for an unknown step, 409 with the blockers when dependencies are
//! not done, 400 naming `reason` when one is needed).

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::answers::name;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use super::handlers::author;
use super::params::ApiPath;
use crate::core::health::Health;
use crate::core::runbook::{self, StepAction, StepRequest};
use crate::wire;

/// The longest reason accepted.
const REASON_MAX: usize = 4 * 1024;

/// `GET /api/v1/runbook`.
pub async fn list(State(state): State<AppState>) -> Json<wire::Runbook> {
    let snapshot = state.engine.snapshot();
    let now = state.clock.now();
    let steps = runbook::view(&state.plan(), &snapshot.runbook, snapshot.phase(), now)
        .iter()
        .map(|view| {
            let step = wire::StepView::<String>::from(view);
            let verify = step
                .verify
                .iter()
                .map(|id| wire::VerifyCheck {
                    check: id.clone(),
                    health: name(
                        &snapshot
                            .checks
                            .get(id)
                            .map_or(Health::Unknown, |gate| gate.health),
                    ),
                })
                .collect();
            step.with_verify(verify)
        })
        .collect();
    let plan = state.plan();
    let (point, procedure) = runbook::applicable_rollback(&plan, &snapshot.runbook);
    Json(wire::Runbook {
        phase: name(&snapshot.phase()),
        timezone: state.plan().launch.timezone_name.clone(),
        grace_seconds: state.plan().runbook.grace.as_secs(),
        escalate_after_seconds: state.plan().runbook.escalate_after.as_secs(),
        steps,
        rollback: wire::ApplicableRollback {
            after_rollback_point: point.map(str::to_string),
            procedure: procedure.to_string(),
        },
    })
}

/// One handler per step action (`POST /api/v1/runbook/{id}/start|done|skip|fail`), each only
/// naming its action: the routes stay separate, so an unknown action stays a 404.
macro_rules! step_action_handler {
    ($name:ident, $action:expr) => {
        pub async fn $name(
            state: State<AppState>,
            id: ApiPath<String>,
            writer: Writer,
            body: JsonBody<wire::StepChangeRequest>,
        ) -> Result<Json<wire::StepChanged>, ApiError> {
            change(state, id, writer, body, $action).await
        }
    };
}

step_action_handler!(start, StepAction::Start);
step_action_handler!(done, StepAction::Done);
step_action_handler!(skip, StepAction::Skip);
step_action_handler!(fail, StepAction::Fail);

async fn change(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::StepChangeRequest>,
    action: StepAction,
) -> Result<Json<wire::StepChanged>, ApiError> {
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
    Ok(Json(wire::StepChanged::from(&outcome)))
}
