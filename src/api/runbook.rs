//! The deployment runbook's routes: `GET /api/v1/runbook` (every step, planned and actual side by
//! side, with the rollback procedure that applies now) and `POST /api/v1/runbook/{id}/start|done|
//! skip|fail` (bearer token; 404 for an unknown step, 409 with the blockers when dependencies are
//! not done, 400 naming `reason` when one is needed). A change carrying a pipeline's `run_id` is
//! safe to retry: repeated by the same run on a step it already moved there, it answers success
//! with `already_recorded` and writes nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::answers::name;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use super::handlers::{author, read, run_id};
use super::params::ApiPath;
use crate::core::health::Health;
use crate::core::log::data::{RunbookLog, StepLogged};
use crate::core::log::{LogData, LogEntry, LogKind};
use crate::core::runbook::{self, StepAction, StepRefusal, StepRequest, StepState};
use crate::engine::EngineError;
use crate::store::{LogQuery, Reader, StoreError};
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
    let run_id = run_id(body.run_id)?;
    let request = StepRequest {
        step: id.clone(),
        action,
        force: body.force,
        reason: body.reason,
        author: author(body.author, &writer)?,
        run_id: run_id.clone(),
    };
    match state.engine.change_step(request).await {
        Ok(outcome) => Ok(Json(wire::StepChanged::from(&outcome))),
        // The change does not fit the step's state: with a run id, maybe because this run made
        // it already (a retried pipeline job). Asked after the engine refused, so two retries
        // racing each other both end here and neither writes twice.
        Err(EngineError::Step(StepRefusal::NotAllowed(message))) if run_id.is_some() => {
            repeated_change(&state, id, action, run_id, message).await
        }
        Err(error) => Err(error.into()),
    }
}

/// A change the engine refused as not fitting the step's state: success without a new entry
/// when the step's latest change was made by the same run and already got where this one leads
/// (`runbook::already_reached`); otherwise the refusal, naming the run that made that change.
async fn repeated_change(
    state: &AppState,
    id: String,
    action: StepAction,
    run_id: Option<String>,
    refusal: String,
) -> Result<Json<wire::StepChanged>, ApiError> {
    let snapshot = state.engine.snapshot();
    let step_state = snapshot
        .runbook
        .get(&id)
        .map(|record| record.state)
        .unwrap_or_default();
    let step_id = id.clone();
    let latest = read(state, move |reader| latest_step_change(reader, &step_id)).await?;
    let conflict = |message: String| ApiError::new(StatusCode::CONFLICT, message);
    let Some((entry, logged)) = latest else {
        return Err(conflict(refusal));
    };
    if logged.run_id != run_id || !runbook::already_reached(action, step_state) {
        return Err(conflict(match &logged.run_id {
            Some(other) => format!("{refusal} (its last change was made by run `{other}`)"),
            None => refusal,
        }));
    }
    let plan = state.plan();
    let now = state.clock.now();
    let view = runbook::view(&plan, &snapshot.runbook, snapshot.phase(), now)
        .into_iter()
        .find(|view| view.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no runbook step `{id}`")))?;
    Ok(Json(wire::StepChanged {
        change: wire::StepChange {
            step: logged.step,
            action: name(&logged.action),
            from: name(&logged.from),
            to: name(&logged.to),
            at: entry.at,
            by: entry.author,
            reason: logged.reason,
            forced: logged.forced,
            overridden: logged.overridden.iter().map(wire::Blocker::from).collect(),
            run_id: logged.run_id,
        },
        step: wire::StepView::from(&view),
        rollback: None,
        already_recorded: true,
        already_done: action == StepAction::Start && step_state == StepState::Done,
    }))
}

/// How many `runbook` log entries are read at a time looking for a step's latest change.
const LOG_PAGE: usize = 500;

/// The latest `runbook` log entry recording a change of step `id`, with its details.
fn latest_step_change(
    reader: &Reader,
    id: &str,
) -> Result<Option<(LogEntry, StepLogged)>, StoreError> {
    let mut before = None;
    loop {
        let page = reader.log(&LogQuery {
            kinds: vec![LogKind::Runbook],
            before,
            after: None,
            limit: LOG_PAGE,
            ascending: false,
        })?;
        for entry in &page {
            if let LogData::Runbook(RunbookLog::Step(logged)) = &entry.data
                && logged.step == id
            {
                let logged = logged.clone();
                return Ok(Some((entry.clone(), logged)));
            }
        }
        match page.last() {
            Some(oldest) if page.len() == LOG_PAGE => before = Some(oldest.id),
            _ => return Ok(None),
        }
    }
}
