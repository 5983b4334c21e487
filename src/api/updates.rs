//! `POST /api/v1/updates`: a stakeholder update by hand (`{"text": "...", "author": "..."}`),
//! sent to the `[updates]` audience through the outbox and recorded as an `update` log entry.
//! The text is checked by the engine (not empty, at most `MAX_UPDATE_CHARS` characters), so
//! the CLI and the API share one rule; a bad one is a 400 naming `text`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use super::handlers::author;
use crate::wire;

/// `POST /api/v1/updates`: 201 with the update's log entry (its `data` names who it went to).
pub async fn send(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::NewUpdate>,
) -> Result<Response, ApiError> {
    let author = author(body.author, &writer)?;
    let entry = state.engine.send_update(body.text, author).await?;
    let sent = wire::UpdateSent {
        update: wire::LogEntry::from(&entry),
    };
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}
