//! `POST /api/v1/reports/send` (send a daily or the final report now, through the engine, recorded
//! like a scheduled one) and `GET /api/v1/reports` (the reports sent, newest first).

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use super::handlers::read;
use crate::wire;

/// `POST /api/v1/reports/send`.
pub async fn send(
    State(state): State<AppState>,
    _writer: Writer,
    JsonBody(body): JsonBody<wire::SendReport>,
) -> Result<Json<wire::ReportSent>, ApiError> {
    let day = match body.date.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<jiff::civil::Date>().map_err(|_| {
            ApiError::field(
                "date",
                format!("`{text}` is not a date; write it as YYYY-MM-DD, e.g. 2026-12-03"),
            )
        })?),
    };
    if day.is_some() && body.final_report {
        return Err(ApiError::field(
            "date",
            "the final report covers the whole launch; leave out `date` with `final`",
        ));
    }
    let record = state.engine.send_report(day, body.final_report).await?;
    Ok(Json(wire::ReportSent {
        report: wire::ReportRecord::from(&record),
    }))
}

/// `GET /api/v1/reports`.
pub async fn list<S: super::standby_reads::Reads>(
    State(state): State<S>,
) -> Result<Json<wire::Reports>, ApiError> {
    let reports = read(&state, |reader| reader.reports(1000)).await?;
    Ok(Json(wire::Reports {
        reports: reports.iter().map(wire::ReportRecord::from).collect(),
    }))
}
