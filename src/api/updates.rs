//! `POST /api/v1/updates`: a stakeholder update by hand (`{"text": "...", "author": "..."}`),
//! sent to the `[updates]` audience through the outbox and recorded as an `update` log entry.
//! The text is checked by the engine (not empty, at most `MAX_UPDATE_CHARS` characters), so
//! the CLI and the API share one rule; a bad one is a 400 naming `text`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use super::handlers::author;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// What people outside the call should know.
    text: String,
    /// Who sends it [default: the token's name].
    author: Option<String>,
}

/// `POST /api/v1/updates`: 201 with the update's log entry (its `data` names who it went to).
pub async fn send(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let author = author(body.author, &writer)?;
    let entry = state.engine.send_update(body.text, author).await?;
    Ok((StatusCode::CREATED, Json(json!({ "update": entry }))).into_response())
}
