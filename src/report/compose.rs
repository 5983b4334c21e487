//! Putting a report together: read what it needs, build its figures, render text and HTML, and
//! give it a subject. Used by the engine (scheduled and manual sends) and by
//! `golive report preview` (which reads a data directory directly).

use jiff::Timestamp;
use jiff::civil::Date;

use super::daily::{self, DailyReport};
use super::final_report::{self, FinalReport};
use super::render::{RenderError, RenderedReport, Templates};
use crate::plan::Plan;
use crate::store::{Reader, StoreError};

/// Why a report could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot read the store")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// The daily report of a local day.
    Daily(Date),
    /// The final report of the whole launch.
    Final,
}

impl ReportKind {
    /// `daily` or `final` (store, metrics, outbox).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Daily(_) => "daily",
            ReportKind::Final => "final",
        }
    }
}

/// A composed report: the figures and their rendering.
pub struct Composed {
    pub kind: ReportKind,
    /// The local day it is filed under (the daily report's day; the day the launch ended).
    pub day: Date,
    pub rendered: RenderedReport,
}

/// Composes the daily report of `day` as of `now`.
pub fn daily(
    reader: &Reader,
    plan: &Plan,
    day: Date,
    now: Timestamp,
    late: bool,
) -> Result<(DailyReport, Composed), ComposeError> {
    let (from, to) = daily::period(plan, day, now);
    let history_from = day
        .yesterday()
        .map_or(from, |yesterday| daily::period(plan, yesterday, now).0);
    let data = daily::gather(reader, plan, history_from, from, to)?;
    let report = daily::build(plan, &data, day, (from, to), now, late);
    let templates = templates(plan)?;
    let subject = format!(
        "[golive] {}: daily report {} — {}{}{}",
        plan.launch.name,
        report.day,
        report.light_word,
        if report.late { " (late)" } else { "" },
        if report.partial { " (so far)" } else { "" },
    );
    let rendered = RenderedReport {
        subject,
        text: templates.render("daily.txt", &report)?,
        html: templates.render("daily.html", &report)?,
    };
    Ok((
        report,
        Composed {
            kind: ReportKind::Daily(day),
            day,
            rendered,
        },
    ))
}

/// Composes the final report as of `now`.
pub fn final_report(
    reader: &Reader,
    plan: &Plan,
    now: Timestamp,
    late: bool,
) -> Result<(FinalReport, Composed), ComposeError> {
    let data = final_report::gather(reader, plan, now)?;
    let report = final_report::build(plan, &data, now, late);
    let templates = templates(plan)?;
    let subject = format!(
        "[golive] {}: final launch report — {}{}",
        plan.launch.name,
        report.outcome,
        if report.late { " (late)" } else { "" },
    );
    let rendered = RenderedReport {
        subject,
        text: templates.render("final.txt", &report)?,
        html: templates.render("final.html", &report)?,
    };
    let day = data
        .end
        .to_zoned_datetime(plan.launch.timezone.clone())
        .date();
    Ok((
        report,
        Composed {
            kind: ReportKind::Final,
            day,
            rendered,
        },
    ))
}

fn templates(plan: &Plan) -> Result<Templates, RenderError> {
    Templates::load(
        plan.reports
            .as_ref()
            .and_then(|reports| reports.templates.as_deref()),
    )
}
