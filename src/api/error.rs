//! The API's one error type: every failure answers JSON `{"error": ..., "field": ...}`; bad input is
//! a 4xx naming the field, anything unexpected an opaque 500 that is logged with its chain.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::core::actions::FieldError;
use crate::core::lifecycle::ConfirmError;
use crate::core::runbook::StepRefusal;
use crate::core::{Blocker, Refusal};
use crate::engine::{EngineError, error_chain};

/// An API failure and how it is answered.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
    pub blockers: Vec<Blocker>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Blocker]>::is_empty")]
    blockers: &'a [Blocker],
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
            blockers: Vec::new(),
        }
    }

    /// 400 for a field that is wrong.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs a valid API token: send `Authorization: Bearer TOKEN`",
        )
    }

    /// An unexpected failure: logged with its chain, answered as an opaque 500.
    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error_chain(error), "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the daemon's log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            field: self.field.as_deref(),
            blockers: &self.blockers,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::field(error.field, error.message)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Refused(Refusal::Blocked { from, to, blockers }) => ApiError {
                blockers,
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "cannot leave {from} for {to} yet; clear the blockers, or force the transition with a reason"
                    ),
                )
            },
            EngineError::Refused(refusal @ Refusal::NotAllowed { .. }) => {
                ApiError::new(StatusCode::CONFLICT, refusal.to_string())
            }
            EngineError::Refused(Refusal::ReasonRequired(message)) => {
                ApiError::field("reason", message)
            }
            EngineError::Confirm(error @ ConfirmError::UnknownItem { .. }) => {
                ApiError::not_found(error.to_string())
            }
            EngineError::Field(error) => error.into(),
            EngineError::Step(StepRefusal::Blocked { step, blockers }) => ApiError {
                blockers,
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "step `{step}` cannot start before the steps it depends on are done; finish or skip them, or start it with force and a reason"
                    ),
                )
            },
            EngineError::Step(StepRefusal::UnknownStep(message)) => ApiError::not_found(message),
            EngineError::Step(StepRefusal::NotAllowed(message)) => {
                ApiError::new(StatusCode::CONFLICT, message)
            }
            EngineError::Step(StepRefusal::ReasonRequired(message)) => {
                ApiError::field("reason", message)
            }
            EngineError::NotFound(message) => ApiError::not_found(message),
            EngineError::Unavailable(message) => ApiError::new(StatusCode::CONFLICT, message),
            EngineError::Failed(message) => {
                tracing::error!(error = %message, "request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
            EngineError::Store(error) => ApiError::internal(&error),
            EngineError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "golive is shutting down; try again when it is back",
            ),
        }
    }
}
