//! The API's one error type: every failure answers JSON `{"error": ..., "field": ...}`; bad input is
//! a 4xx naming the field, a store that cannot write (a full disk, a read-only disk, an I/O error,
//! another program's lock) a 507 or 503 saying what is wrong and what to do, anything unexpected an
//! opaque 500 that is logged with its chain.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::core::actions::FieldError;
use crate::core::lifecycle::ConfirmError;
use crate::core::runbook::StepRefusal;
use crate::core::{Blocker, Refusal};
use crate::engine::EngineError;
use crate::error_chain::error_chain;
use crate::store::{StoreError, StoreTrouble};

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
        ApiError::opaque()
    }

    /// The answer to every unexpected failure, whatever it was: the details are in the log, never
    /// in the answer (they may name files, SQL or other people's data).
    fn opaque() -> Self {
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
            EngineError::Failed(chain) => {
                tracing::error!(error = %chain, "request failed");
                ApiError::opaque()
            }
            EngineError::StoreUnavailable { data_dir, source } => {
                store_unavailable(&data_dir, &source)
            }
            EngineError::Store(error) => ApiError::internal(&error),
            EngineError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "golive is shutting down; try again when it is back",
            ),
        }
    }
}

/// A write the store could not make for a reason around golive: 507 for a full disk, 503 for the
/// rest, each saying what is wrong and what to do. The data directory is named (it is in
/// `/api/v1/plan` too); the SQLite message is logged, not answered.
fn store_unavailable(data_dir: &std::path::Path, error: &StoreError) -> ApiError {
    tracing::warn!(error = %error_chain(error), data_dir = %data_dir.display(), "a write was refused: the store cannot write");
    let dir = data_dir.display();
    let (status, reason) = match error.trouble() {
        StoreTrouble::DiskFull => (
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "golive's store cannot write: the disk holding {dir} is full; free space there, then try again"
            ),
        ),
        StoreTrouble::ReadOnly => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "golive's store cannot write: the database in {dir} is read-only (a disk remounted read-only, or changed permissions); make it writable for golive, then try again"
            ),
        ),
        StoreTrouble::Io => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "golive's store cannot write: the disk holding {dir} reported an I/O error; check that disk (the daemon's log has the details), then try again"
            ),
        ),
        StoreTrouble::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "golive's store is busy: another program holds the database in {dir} locked (a backup, an sqlite3 shell?); let it finish, then try again"
            ),
        ),
        StoreTrouble::Unreachable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "golive's store cannot reach its PostgreSQL database (connection refused or lost, the server restarting); check that the database server runs and golive can reach it, then try again".to_string(),
        ),
        StoreTrouble::Other => return ApiError::internal(error),
    };
    ApiError::new(status, format!("{reason} — nothing was recorded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable(code: std::ffi::c_int) -> ApiError {
        EngineError::StoreUnavailable {
            data_dir: "/srv/golive/data".into(),
            source: StoreError::Sql(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                Some("low-level detail".into()),
            )),
        }
        .into()
    }

    #[test]
    fn a_full_disk_is_507_naming_the_data_directory_and_the_remedy() {
        let error = unavailable(rusqlite::ffi::SQLITE_FULL);
        assert_eq!(error.status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(
            error.message,
            "golive's store cannot write: the disk holding /srv/golive/data is full; free space there, then try again — nothing was recorded"
        );
    }

    #[test]
    fn other_store_unavailability_is_503_saying_what_is_wrong() {
        for (code, words) in [
            (rusqlite::ffi::SQLITE_READONLY, "is read-only"),
            (rusqlite::ffi::SQLITE_IOERR_FSYNC, "I/O error"),
            (
                rusqlite::ffi::SQLITE_BUSY,
                "holds the database in /srv/golive/data locked",
            ),
        ] {
            let error = unavailable(code);
            assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE, "{code}");
            assert!(error.message.contains(words), "{}", error.message);
            assert!(error.message.ends_with("nothing was recorded"));
            assert!(!error.message.contains("low-level detail"));
        }
    }

    #[test]
    fn a_store_error_that_is_golive_s_own_fault_stays_an_opaque_500() {
        let error: ApiError = EngineError::Store(StoreError::Corrupt {
            what: "log.kind",
            value: "secret-ish".into(),
        })
        .into();
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.message.contains("secret-ish"));
    }

    #[test]
    fn a_request_that_failed_unexpectedly_is_an_opaque_500_without_its_chain() {
        let error: ApiError = EngineError::Failed(
            "cannot compose the report: cannot read the store: no such table: alerts".into(),
        )
        .into();
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            error.message,
            "internal error; the daemon's log has the details"
        );
    }
}
