//! The runbook as documents show it (the timeline and the final report): each step's planned and
//! actual times in the launch's time zone, who started and finished it, and how far off plan it
//! ended (or is now). Pure.

use jiff::Timestamp;
use serde::Serialize;

use crate::core::lifecycle::owner_label;
use crate::core::runbook::{self, StepRecords, StepState};
use crate::domain::Phase;
use crate::plan::Plan;
use crate::plan::recipients::display_name;

/// One step, every field ready to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunbookRow {
    pub id: String,
    pub title: String,
    /// The owner as people read it, e.g. `Jonas Weber (dev lead)`.
    pub owner: String,
    pub phase: String,
    /// `20:00–20:20 (+00:00)`: planned start and end, and the start as written in the plan.
    pub planned: String,
    /// `20:03–20:19`; actual times on another day than planned carry their date.
    pub actual: String,
    pub started_by: String,
    pub finished_by: String,
    pub state: String,
    /// `on time`, `ended 4 min late`, `ended 2 min early`, `12 min behind now`, or empty.
    pub versus_plan: String,
    /// `forced`, the reason of a skip or failure, `rollback point`; joined with `; `.
    pub note: String,
}

/// Every step of the plan's runbook, in plan order, as of `now` in `phase`.
pub fn rows(plan: &Plan, records: &StepRecords, phase: Phase, now: Timestamp) -> Vec<RunbookRow> {
    let tz = &plan.launch.timezone;
    let hm = |at: Timestamp| {
        at.to_zoned_datetime(tz.clone())
            .strftime("%H:%M")
            .to_string()
    };
    runbook::view(plan, records, phase, now)
        .into_iter()
        .map(|view| {
            // Actual times on another day than planned carry their date.
            let planned_day = view.planned_start.to_zoned_datetime(tz.clone()).date();
            let actual_time = |at: Timestamp| {
                let zoned = at.to_zoned_datetime(tz.clone());
                if zoned.date() == planned_day {
                    hm(at)
                } else {
                    zoned.strftime("%Y-%m-%d %H:%M").to_string()
                }
            };
            let actual = match (view.record.started_at, view.record.finished_at) {
                (None, None) => String::new(),
                (Some(started), Some(finished))
                    if started.to_zoned_datetime(tz.clone()).date()
                        == finished.to_zoned_datetime(tz.clone()).date() =>
                {
                    // An end on the day of its start needs no date again.
                    format!("{}–{}", actual_time(started), hm(finished))
                }
                (started, finished) => format!(
                    "{}–{}",
                    started.map(actual_time).unwrap_or_default(),
                    finished.map(actual_time).unwrap_or_default()
                ),
            };
            let versus_plan = match view.record.finished_at {
                Some(finished) if view.record.state == StepState::Done => {
                    let seconds = finished.duration_since(view.planned_end).as_secs();
                    match seconds / 60 {
                        0 => "on time".to_string(),
                        late if late > 0 => {
                            format!("ended {} late", crate::human::seconds(seconds))
                        }
                        _ => format!("ended {} early", crate::human::seconds(-seconds)),
                    }
                }
                _ if view.late_seconds > 0 => format!(
                    "{} behind now",
                    crate::human::seconds(i64::try_from(view.late_seconds).unwrap_or(i64::MAX))
                ),
                _ => String::new(),
            };
            let mut note = Vec::new();
            if view.record.forced {
                note.push("forced".to_string());
            }
            if let Some(reason) = &view.record.reason {
                note.push(reason.clone());
            }
            if view.rollback_point {
                note.push("rollback point".to_string());
            }
            let owner = plan
                .runbook
                .step(&view.id)
                .map_or(view.owner.clone(), |step| owner_label(plan, &step.owner));
            RunbookRow {
                planned: format!(
                    "{}–{} ({})",
                    hm(view.planned_start),
                    hm(view.planned_end),
                    view.planned
                ),
                id: view.id,
                title: view.title,
                owner,
                phase: view.phase.to_string(),
                actual,
                started_by: view
                    .record
                    .started_by
                    .as_deref()
                    .map(|who| display_name(plan, who))
                    .unwrap_or_default(),
                finished_by: view
                    .record
                    .finished_by
                    .as_deref()
                    .map(|who| display_name(plan, who))
                    .unwrap_or_default(),
                state: view.record.state.to_string(),
                versus_plan,
                note: note.join("; "),
            }
        })
        .collect()
}
