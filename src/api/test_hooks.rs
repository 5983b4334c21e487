//! Test-only hooks, served under `/api/v1/test/` only when the daemon started with
//! `GOLIVE_TEST_HOOKS=1` (otherwise these paths are 404 like any unknown one), and only with a
//! write token. They put a real daemon into states a test cannot otherwise reach from outside,
//! such as a wedged engine, so integration tests can show what golive does then (its heartbeat
//! stops). Never enable them in production.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use crate::engine::MAX_TEST_WEDGE;

/// `POST /api/v1/test/wedge-engine`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WedgeRequest {
    /// How long the engine's thread blocks, in seconds (more than 0, at most 300).
    seconds: f64,
}

/// Blocks the engine's loop for `seconds` (as a hung store call would) and answers 202 at once.
pub async fn wedge_engine(
    State(state): State<AppState>,
    Writer(by): Writer,
    JsonBody(request): JsonBody<WedgeRequest>,
) -> Result<Response, ApiError> {
    let limit = MAX_TEST_WEDGE.as_secs_f64();
    if !(request.seconds > 0.0 && request.seconds <= limit) {
        return Err(ApiError::field(
            "seconds",
            format!("`seconds` must be more than 0 and at most {limit}"),
        ));
    }
    let duration = Duration::from_secs_f64(request.seconds);
    tracing::warn!(by = %by, seconds = request.seconds, "test hook: wedging the engine");
    state.engine.test_wedge(duration).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"wedged_seconds": request.seconds})),
    )
        .into_response())
}

/// `POST /api/v1/test/lose-alert-commit-answers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoseAnswersRequest {
    /// On: every write that changes alerts commits, then reports the error a lost answer to
    /// `COMMIT` gives. Off: writes answer again.
    lose: bool,
}

/// Makes the engine's alert writes commit but fail, as a PostgreSQL connection lost between
/// `COMMIT` and its answer does (see `Command::TestLoseAlertCommitAnswers`), until turned off.
pub async fn lose_alert_commit_answers(
    State(state): State<AppState>,
    Writer(by): Writer,
    JsonBody(request): JsonBody<LoseAnswersRequest>,
) -> Result<Response, ApiError> {
    tracing::warn!(by = %by, lose = request.lose, "test hook: alert writes lose their answers");
    state
        .engine
        .test_lose_alert_commit_answers(request.lose)
        .await?;
    Ok(axum::Json(json!({"lose": request.lose})).into_response())
}
