//! The daily post-launch report: what happened in the last day (from the previous send instant to
//! this one), compared with the day before. [`gather`] reads the store; [`build`] is pure and
//! turns what was read into the figures the templates show.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::format::{self, Light};
use super::judgement;
use super::schedule;
use super::sections::{
    self, Actions, Bar, CheckHistory, CheckRow, EntryRow, Incidents, Notifications, minute_of,
};
use crate::core::LaunchState;
use crate::core::actions::ActionItem;
use crate::core::alert::Alert;
use crate::core::log::{LogEntry, LogKind};
use crate::domain::Phase;
use crate::plan::Plan;
use crate::store::alerts::OutboxRow;
use crate::store::{Reader, StoreError};

/// Everything a report is built from, as read from the store.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub state: LaunchState,
    /// The whole log, oldest first.
    pub log: Vec<LogEntry>,
    pub actions: Vec<ActionItem>,
    /// Alerts open at some time in the period.
    pub alerts: Vec<Alert>,
    /// Notifications created in the period.
    pub outbox: Vec<OutboxRow>,
    /// Per check of the plan (same order), its minutes from `history_from` to the period's end.
    pub histories: Vec<CheckHistory>,
}

/// Reads what a report of `[from, to)` needs, with check history from `history_from` (earlier
/// than `from` when the report compares with a previous period).
pub fn gather(
    reader: &Reader,
    plan: &Plan,
    history_from: Timestamp,
    from: Timestamp,
    to: Timestamp,
) -> Result<ReportData, StoreError> {
    let histories = read_histories(reader, plan, minute_of(history_from), minute_of(to) + 1)?;
    Ok(ReportData {
        state: reader.state()?,
        log: reader.whole_log()?,
        actions: reader.actions()?,
        alerts: reader.alerts_between(from, to)?,
        outbox: reader.outbox_between(from, to)?,
        histories,
    })
}

/// Every check's history in minutes `[from, to)`: whole hours from the hourly history where it is
/// merged already, the minutes at both ends (and of hours not merged yet) from the minute history.
/// Hourly rows are keyed by their first minute, so range sums over the result are exact for any
/// range that starts and ends on an hour or outside the hourly part.
pub fn read_histories(
    reader: &Reader,
    plan: &Plan,
    from: i64,
    to: i64,
) -> Result<Vec<CheckHistory>, StoreError> {
    let merged_until = reader.hours_rolled_up_until()?;
    let first_hour = from.div_euclid(60) + i64::from(from.rem_euclid(60) != 0);
    let last_hour = to
        .div_euclid(60)
        .min(merged_until.unwrap_or(first_hour))
        .max(first_hour);
    plan.checks
        .iter()
        .map(|check| {
            let mut minutes = Vec::new();
            let mut hourly = (0, 0);
            if last_hour > first_hour {
                hourly = (first_hour * 60, last_hour * 60);
                minutes.extend(reader.check_minutes(&check.id, from, first_hour * 60)?);
                minutes.extend(reader.check_hours(&check.id, first_hour, last_hour)?);
                minutes.extend(reader.check_minutes(&check.id, last_hour * 60, to)?);
            } else {
                minutes = reader.check_minutes(&check.id, from, to)?;
            }
            Ok(CheckHistory { minutes, hourly })
        })
        .collect()
}

/// The period the daily report of `day` covers, as of `now`: from the previous day's send instant
/// to this day's, or to `now` while that is still ahead (a preview or an early manual send).
pub fn period(plan: &Plan, day: Date, now: Timestamp) -> (Timestamp, Timestamp) {
    let time = plan
        .reports
        .as_ref()
        .map_or(crate::plan::reports::DEFAULT_SEND_TIME, |reports| {
            reports.time
        });
    let (from, to) = schedule::window(day, time, &plan.launch.timezone);
    (from, to.min(now).max(from))
}

/// The daily report, ready for the templates.
#[derive(Debug, Clone, Serialize)]
pub struct DailyReport {
    pub launch: String,
    pub phase: String,
    pub day: String,
    pub timezone: String,
    pub period_from: String,
    pub period_to: String,
    /// The period is not over yet (a preview or an early manual send).
    pub partial: bool,
    /// Sent after its time (the daemon was down, or the clock jumped).
    pub late: bool,
    /// `Day 3 of 14 of hypercare`, or the time since go-live.
    pub progress: String,
    pub light: Light,
    pub light_word: &'static str,
    pub light_color: &'static str,
    /// Why the light is what it is, in one sentence.
    pub summary: String,
    /// How much of the period had probe results: `probed 3 min 05 s of 24 h`.
    pub coverage: String,
    pub generated_at: String,
    /// The checks listed (all of a small plan; those needing attention of a large one).
    pub checks: Vec<CheckRow>,
    /// How many checks the list leaves out.
    pub listed: sections::Listed,
    /// How many checks the plan has.
    pub checks_total: usize,
    pub checks_with_objective: usize,
    pub checks_missing_objective: usize,
    /// Labels under the availability cells (every third hour).
    pub hours: Vec<String>,
    pub latency: Vec<Bar>,
    pub incidents: Incidents,
    pub notifications: Notifications,
    pub actions: Actions,
    pub decisions: Vec<EntryRow>,
    pub notes: Vec<EntryRow>,
    pub lessons: Vec<EntryRow>,
    pub feedback: Vec<EntryRow>,
    /// Stakeholder updates sent (`[updates]`); the section is left out without any.
    pub updates: Vec<EntryRow>,
}

/// How many minutes an availability cell of the daily report covers.
const SLOT_MINUTES: i64 = 60;

/// Builds the daily report of `day` for `[from, to)` from `data`.
pub fn build(
    plan: &Plan,
    data: &ReportData,
    day: Date,
    (from, to): (Timestamp, Timestamp),
    now: Timestamp,
    late: bool,
) -> DailyReport {
    let tz = &plan.launch.timezone;
    let (_, scheduled_end) = period(plan, day, Timestamp::MAX);
    let previous = day
        .yesterday()
        .map(|yesterday| period(plan, yesterday, Timestamp::MAX))
        .ok();
    let span = (minute_of(from), minute_of(to));
    let previous_span = previous.map(|(from, to)| (minute_of(from), minute_of(to)));
    let checks: Vec<CheckRow> = plan
        .checks
        .iter()
        .zip(&data.histories)
        .map(|(check, history)| {
            sections::check_row(
                check,
                sections::objective_of(plan, &check.id),
                history,
                &sections::failing_spans(&data.log, &check.id),
                span,
                previous_span,
                SLOT_MINUTES,
            )
        })
        .collect();
    let hours = (0..)
        .map(|index| from + jiff::SignedDuration::from_mins(SLOT_MINUTES * index))
        .take_while(|at| *at < to)
        .step_by(3)
        .map(|at| format::clock(at, tz))
        .collect();
    let histories: Vec<&CheckHistory> = data.histories.iter().collect();
    let latency = sections::latency_bars(&histories, span, SLOT_MINUTES, |minute| {
        Timestamp::from_second(minute * 60)
            .map_or_else(|_| String::new(), |at| format::clock(at, tz))
    });
    let slots = (to.duration_since(from).as_mins() / 30).max(1);
    let incidents = sections::incidents(plan, &data.alerts, from, to, slots, tz);
    let notifications = sections::notifications(plan, &data.outbox, tz);
    let actions = sections::actions(plan, &data.actions, day, from, to);
    let checks_total = checks.len();
    let with_objective = checks.iter().filter(|row| row.met.is_some()).count();
    let missing_objective = checks.iter().filter(|row| row.met == Some(false)).count();
    let judgement = judgement::judge(&judgement::Facts {
        phase: data.state.phase,
        checks: &checks,
        alerts: &data.alerts,
        period_secs: (span.1 - span.0).max(1) * 60,
        failed_notifications: notifications.failed,
        late_actions: (!actions.overdue.is_empty()).then(|| {
            format!(
                "{} overdue",
                format::count(actions.overdue.len(), "action item", "action items")
            )
        }),
    });
    let light = judgement.light;
    let (checks, listed) = sections::focus(checks, |row| row.availability_value.unwrap_or(1.0));
    DailyReport {
        launch: plan.launch.name.clone(),
        phase: data.state.phase.to_string(),
        day: day.to_string(),
        timezone: plan.launch.timezone_name.clone(),
        period_from: crate::human::time(from, tz),
        period_to: crate::human::time(to, tz),
        partial: to < scheduled_end,
        late,
        progress: progress(plan, &data.log, &data.state, to),
        light,
        light_word: light.word(),
        light_color: light.color(),
        summary: judgement.reason,
        coverage: judgement.coverage,
        generated_at: crate::human::time(now, tz),
        checks_with_objective: with_objective,
        checks_missing_objective: missing_objective,
        checks,
        listed,
        checks_total,
        hours,
        latency,
        incidents,
        notifications,
        decisions: sections::entries(&data.log, LogKind::Decision, from, to, tz),
        notes: sections::entries(&data.log, LogKind::Note, from, to, tz),
        lessons: sections::entries(&data.log, LogKind::Lesson, from, to, tz),
        feedback: sections::entries(&data.log, LogKind::Feedback, from, to, tz),
        updates: sections::entries(&data.log, LogKind::Update, from, to, tz),
        actions,
    }
}

/// Where the launch stands at `at`: the day of hypercare, or the time since go-live.
pub fn progress(plan: &Plan, log: &[LogEntry], state: &LaunchState, at: Timestamp) -> String {
    let tz = &plan.launch.timezone;
    if state.phase == Phase::Hypercare {
        let start = sections::entered(log, Phase::Hypercare).unwrap_or(state.phase_since);
        let day = at.duration_since(start).as_secs().max(0) / 86_400 + 1;
        let total = plan.launch.hypercare_days.ceil() as i64;
        return format!(
            "Day {} of {total} of hypercare (since {})",
            day.min(total),
            crate::human::time(start, tz)
        );
    }
    match sections::entered(log, Phase::Deploying) {
        Some(live) if at >= live => format!(
            "{} since go-live ({})",
            crate::human::duration(at.duration_since(live)),
            crate::human::time(live, tz)
        ),
        _ => format!(
            "Go-live planned for {}",
            crate::human::time(plan.launch.go_live, tz)
        ),
    }
}
