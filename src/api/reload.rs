//! `POST /api/v1/reload` (write token): the daemon reads the plan file it was started with again
//! and applies it without a restart (`engine::reload`). 200 with what changed and the new plan's
//! warnings; 422 for an invalid plan, with every diagnostic as `golive check` reports it (as data
//! and as the text `golive check` prints, in `error`); 409 for a change that needs a restart
//! (`field` names the key). In both refusals the daemon keeps running the plan it has.

use std::path::Path;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Writer;
use super::error::ApiError;
use crate::core::plan_diff::{IdChanges, PlanChanges};
use crate::engine::{ReloadError, Reloaded};
use crate::plan::Diagnostic;
use crate::wire;

/// `POST /api/v1/reload`.
pub async fn reload(State(state): State<AppState>, writer: Writer) -> Result<Response, ApiError> {
    match state.engine.reload_from_file(writer.0).await {
        Ok(reloaded) => Ok(Json(answer(&reloaded)).into_response()),
        Err(ReloadError::Engine(error)) => Err(error.into()),
        Err(refusal) => Ok(refused(refusal)),
    }
}

/// The refusal's status and body: what a person reads in `error`, the details as data.
pub fn refused(refusal: ReloadError) -> Response {
    let message = refusal.to_string();
    let (status, body) = match refusal {
        ReloadError::Invalid { path, diagnostics } => {
            let diagnostics: Vec<wire::PlanDiagnostic> = diagnostics
                .iter()
                .map(|diagnostic| plan_diagnostic(diagnostic, &path))
                .collect();
            let mut text: Vec<String> = diagnostics.iter().map(|d| d.text.clone()).collect();
            text.push(message);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                wire::ReloadRefused {
                    error: text.join("\n"),
                    field: None,
                    diagnostics,
                    not_live: Vec::new(),
                },
            )
        }
        ReloadError::NotLive(keys) => (
            StatusCode::CONFLICT,
            wire::ReloadRefused {
                error: message,
                field: keys.first().map(|key| key.key.clone()),
                diagnostics: Vec::new(),
                not_live: keys
                    .into_iter()
                    .map(|key| wire::NotLive {
                        key: key.key,
                        reason: key.reason,
                    })
                    .collect(),
            },
        ),
        ReloadError::Unreadable { .. } | ReloadError::Engine(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            wire::ReloadRefused {
                error: message,
                field: None,
                diagnostics: Vec::new(),
                not_live: Vec::new(),
            },
        ),
    };
    (status, Json(body)).into_response()
}

/// The answer to a reload that applied.
pub fn answer(reloaded: &Reloaded) -> wire::Reloaded {
    wire::Reloaded {
        path: reloaded.path.display().to_string(),
        summary: reloaded.summary.clone(),
        changes: changes(&reloaded.changes),
        warnings: reloaded
            .warnings
            .iter()
            .map(|warning| plan_diagnostic(warning, &reloaded.path))
            .collect(),
        resolved_alerts: reloaded.resolved_alerts.clone(),
    }
}

fn plan_diagnostic(diagnostic: &Diagnostic, file: &Path) -> wire::PlanDiagnostic {
    wire::PlanDiagnostic {
        level: diagnostic.level.to_string(),
        line: diagnostic.line,
        col: diagnostic.column,
        path: diagnostic.path.clone(),
        message: diagnostic.message.clone(),
        help: diagnostic.help.clone(),
        text: diagnostic.display(file).to_string(),
    }
}

fn changes(changes: &PlanChanges) -> wire::PlanChanges {
    let ids = |ids: &IdChanges| wire::IdChanges {
        added: ids.added.clone(),
        removed: ids.removed.clone(),
        changed: ids.changed.clone(),
    };
    wire::PlanChanges {
        checks: ids(&changes.checks),
        people: ids(&changes.people),
        channels: ids(&changes.channels),
        escalation: ids(&changes.escalation),
        sections: changes.sections.clone(),
    }
}
