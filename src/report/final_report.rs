//! The final launch report: the post-mortem of the launch (see `postmortem`: summary and impact,
//! incident timeline, what went well and what did not, root cause and follow-ups), then the
//! appendix — the phase timeline, the checklist with who confirmed what, the runbook planned vs
//! actual, availability and latency over the whole hypercare, incident figures, notifications,
//! decisions and notes, and what was rolled back. [`gather`] reads the store; [`build`] is pure.

use jiff::Timestamp;
use serde::Serialize;

use super::daily::{ReportData, progress};
use super::format::{self, Light};
use super::judgement;
use super::postmortem::{self, PostMortem};
use super::runbook_rows::{self, RunbookRow};
use super::sections::{
    self, Actions, Bar, CheckHistory, CheckRow, EntryRow, Incidents, Notifications, minute_of,
};
use crate::core::LaunchState;
use crate::core::log::{self, LogEntry, LogKind};
use crate::domain::Phase;
use crate::plan::Plan;
use crate::plan::recipients::display_name;
use crate::store::{Reader, StoreError};

/// What the final report is built from.
#[derive(Debug, Clone)]
pub struct FinalData {
    pub data: ReportData,
    /// Where the figures start: when hypercare began, else the go-live (entering `deploying`).
    pub start: Timestamp,
    /// When the launch ended (`closed` or `rolled_back`), or now for a preview of a running one.
    pub end: Timestamp,
}

/// Reads the whole launch.
pub fn gather(reader: &Reader, plan: &Plan, now: Timestamp) -> Result<FinalData, StoreError> {
    let state = reader.state()?;
    let log = reader.whole_log()?;
    let end = if state.phase.is_terminal() {
        state.phase_since
    } else {
        now
    };
    let start = sections::entered(&log, Phase::Hypercare)
        .or_else(|| sections::entered(&log, Phase::Deploying))
        .unwrap_or(plan.launch.go_live)
        .min(end);
    let histories =
        super::daily::read_histories(reader, plan, minute_of(start), minute_of(end) + 1)?;
    let mut alerts = reader.alerts(false, usize::MAX >> 1)?;
    alerts.reverse();
    Ok(FinalData {
        data: ReportData {
            outbox: reader.outbox_between(Timestamp::MIN, end)?,
            actions: reader.actions()?,
            state,
            log,
            alerts,
            histories,
        },
        start,
        end,
    })
}

/// One phase change.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRow {
    pub at: String,
    pub from: String,
    pub to: String,
    pub by: String,
    pub forced: bool,
    pub reason: String,
}

/// One checklist item and its confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct ChecklistRow {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub required: bool,
    pub gates: String,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<String>,
    pub note: Option<String>,
}

/// What was rolled back, when the launch was.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackView {
    pub at: String,
    pub by: String,
    pub reason: String,
    pub procedure: String,
    /// Log entries about the rollback hook and the decision.
    pub entries: Vec<EntryRow>,
}

/// The runbook section: every step with planned vs actual times and who did what.
#[derive(Debug, Clone, Serialize)]
pub struct RunbookSection {
    pub timezone: String,
    pub steps: Vec<RunbookRow>,
}

/// The final report, ready for the templates.
#[derive(Debug, Clone, Serialize)]
pub struct FinalReport {
    pub launch: String,
    /// `closed`, `rolled back`, or `in progress (<phase>)` for a preview.
    pub outcome: String,
    pub ended: bool,
    pub late: bool,
    pub timezone: String,
    pub generated_at: String,
    pub light: Light,
    pub light_word: &'static str,
    pub light_color: &'static str,
    /// Why the light is what it is, in one sentence.
    pub summary: String,
    /// How much of the launch had probe results: `probed 4 min 10 s of 48 h`.
    pub coverage: String,
    pub planned_go_live: String,
    pub go_live: Option<String>,
    pub period_from: String,
    pub period_to: String,
    pub duration: String,
    pub progress: String,
    pub phases: Vec<PhaseRow>,
    pub checklist: Vec<ChecklistRow>,
    /// The checks listed (all of a small plan; those needing attention of a large one).
    pub checks: Vec<CheckRow>,
    /// How many checks the list leaves out.
    pub listed: sections::Listed,
    /// How many checks the plan has.
    pub checks_total: usize,
    /// Labels of the daily availability cells.
    pub days: Vec<String>,
    pub latency: Vec<Bar>,
    pub incidents: Incidents,
    pub notifications: Notifications,
    pub actions: Actions,
    pub decisions: Vec<EntryRow>,
    pub lessons: Vec<EntryRow>,
    pub feedback: Vec<EntryRow>,
    pub notes: Vec<EntryRow>,
    /// Stakeholder updates sent (`[updates]`); the section is left out without any.
    pub updates: Vec<EntryRow>,
    pub rollback: Option<RollbackView>,
    /// The deployment runbook (none when the plan has none).
    pub runbook: Option<RunbookSection>,
    /// The post-mortem sections the report opens with.
    pub postmortem: PostMortem,
}

/// A day of the final report's charts.
const DAY_MINUTES: i64 = 24 * 60;

/// Builds the final report from `data`.
pub fn build(plan: &Plan, data: &FinalData, now: Timestamp, late: bool) -> FinalReport {
    let tz = &plan.launch.timezone;
    let FinalData {
        data: base,
        start,
        end,
    } = data;
    let (start, end) = (*start, *end);
    let state = &base.state;
    let span = (minute_of(start), minute_of(end).max(minute_of(start) + 1));
    let checks = check_rows(plan, base, span);
    let days = day_labels(start, end, tz);
    let histories: Vec<&CheckHistory> = base.histories.iter().collect();
    let latency = sections::latency_bars(&histories, span, DAY_MINUTES, |minute| {
        Timestamp::from_second(minute * 60).map_or_else(|_| String::new(), |at| day_label(at, tz))
    });
    let whole_days = (end.duration_since(start).as_hours() / 24).max(1);
    let incidents = sections::incidents(
        plan,
        &base.alerts,
        start.min(first_alert(base).unwrap_or(start)),
        end,
        whole_days.min(60),
        tz,
    );
    let notifications = sections::notifications(plan, &base.outbox, tz);
    let today = end.to_zoned_datetime(tz.clone()).date();
    let actions = sections::actions(plan, &base.actions, today, start, end);
    let open_actions = actions.open.len();
    let judgement = judgement::judge(&judgement::Facts {
        phase: state.phase,
        checks: &checks,
        alerts: &base.alerts,
        period_secs: (span.1 - span.0).max(1) * 60,
        failed_notifications: notifications.failed,
        late_actions: (open_actions > 0).then(|| {
            format!(
                "{} still open",
                format::count(open_actions, "action item", "action items")
            )
        }),
    });
    let light = judgement.light;
    let checks_total = checks.len();
    let outcome = outcome(state.phase);
    let go_live = sections::entered(&base.log, Phase::Deploying);
    let postmortem = postmortem::build(&postmortem::Inputs {
        plan,
        log: &base.log,
        alerts: &base.alerts,
        actions: &base.actions,
        checks: &checks,
        incidents: &incidents,
        go_live,
        start,
        end,
        period_secs: (span.0 * 60, span.1 * 60),
        outcome: &outcome,
        ended: state.phase.is_terminal(),
        tz,
    });
    let (checks, listed) = sections::focus(checks, |row| row.availability_value.unwrap_or(1.0));
    FinalReport {
        launch: plan.launch.name.clone(),
        ended: state.phase.is_terminal(),
        outcome,
        late,
        timezone: plan.launch.timezone_name.clone(),
        generated_at: crate::human::time(now, tz),
        light,
        light_word: light.word(),
        light_color: light.color(),
        summary: judgement.reason,
        coverage: judgement.coverage,
        planned_go_live: crate::human::time(plan.launch.go_live, tz),
        go_live: go_live.map(|at| crate::human::time(at, tz)),
        period_from: crate::human::time(start, tz),
        period_to: crate::human::time(end, tz),
        duration: crate::human::duration(end.duration_since(start)),
        progress: progress(plan, &base.log, state, end),
        phases: phase_rows(plan, &base.log, tz),
        checklist: checklist_rows(plan, state, tz),
        checks,
        listed,
        checks_total,
        days,
        latency,
        incidents,
        notifications,
        actions,
        decisions: named_entries(plan, &base.log, LogKind::Decision, Timestamp::MIN, tz),
        lessons: named_entries(plan, &base.log, LogKind::Lesson, Timestamp::MIN, tz),
        feedback: named_entries(plan, &base.log, LogKind::Feedback, Timestamp::MIN, tz),
        notes: named_entries(plan, &base.log, LogKind::Note, Timestamp::MIN, tz),
        updates: named_entries(plan, &base.log, LogKind::Update, Timestamp::MIN, tz),
        rollback: rollback_view(plan, base, tz),
        runbook: runbook_section(plan, base, end),
        postmortem,
    }
}

/// Each check's figures over the whole period (`span`, in minutes).
fn check_rows(plan: &Plan, base: &ReportData, span: (i64, i64)) -> Vec<CheckRow> {
    plan.checks
        .iter()
        .zip(&base.histories)
        .map(|(check, history)| {
            sections::check_row(
                check,
                sections::objective_of(plan, &check.id),
                history,
                &sections::failing_spans(&base.log, &check.id),
                span,
                None,
                DAY_MINUTES,
            )
        })
        .collect()
}

/// How the launch ended, or that it has not: `closed`, `rolled back`, `in progress (hypercare)`.
fn outcome(phase: Phase) -> String {
    match phase {
        Phase::Closed => "closed".to_string(),
        Phase::RolledBack => "rolled back".to_string(),
        other => format!("in progress ({other})"),
    }
}

/// The deployment runbook, planned vs actual from the log (none when the plan has no runbook).
fn runbook_section(plan: &Plan, base: &ReportData, end: Timestamp) -> Option<RunbookSection> {
    (!plan.runbook.steps.is_empty()).then(|| RunbookSection {
        timezone: plan.launch.timezone_name.clone(),
        steps: runbook_rows::rows(plan, &log::step_records(&base.log), base.state.phase, end),
    })
}

/// The charts' day labels, one per 24 hours from `start` until `end`.
fn day_labels(start: Timestamp, end: Timestamp, tz: &jiff::tz::TimeZone) -> Vec<String> {
    (0..)
        .map(|index| start + jiff::SignedDuration::from_hours(24 * index))
        .take_while(|at| *at < end)
        .map(|at| day_label(at, tz))
        .collect()
}

/// A day as the charts label it (`12-01`).
fn day_label(at: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%m-%d")
        .to_string()
}

/// The phase changes, from the log; an entry whose details do not read shows blank details.
fn phase_rows(plan: &Plan, log: &[LogEntry], tz: &jiff::tz::TimeZone) -> Vec<PhaseRow> {
    log.iter()
        .filter(|entry| entry.kind == LogKind::Phase)
        .map(|entry| {
            let change = entry.data.phase();
            PhaseRow {
                at: crate::human::time(entry.at, tz),
                from: change.map_or_else(String::new, |change| change.from.to_string()),
                to: change.map_or_else(String::new, |change| change.to.to_string()),
                by: display_name(plan, &entry.author),
                forced: change.is_some_and(|change| change.forced),
                reason: change
                    .and_then(|change| change.reason.clone())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The checklist with who confirmed each item and when.
fn checklist_rows(plan: &Plan, state: &LaunchState, tz: &jiff::tz::TimeZone) -> Vec<ChecklistRow> {
    plan.checklist
        .iter()
        .map(|item| {
            let confirmation = state.confirmations.get(&item.id);
            ChecklistRow {
                id: item.id.clone(),
                title: item.title.clone(),
                owner: match &item.owner {
                    crate::domain::Owner::Person(id) => display_name(plan, id),
                    crate::domain::Owner::Role(role) => display_name(plan, role.as_str()),
                },
                required: item.required,
                gates: item.gates.to_string(),
                confirmed_by: confirmation.map(|c| display_name(plan, &c.by)),
                confirmed_at: confirmation.map(|c| crate::human::time(c.at, tz)),
                note: confirmation.and_then(|c| c.note.clone()),
            }
        })
        .collect()
}

/// What the report says about a rollback: when, by whom, why, and the decisions since.
fn rollback_view(plan: &Plan, base: &ReportData, tz: &jiff::tz::TimeZone) -> Option<RollbackView> {
    let state = &base.state;
    (state.phase == Phase::RolledBack).then(|| {
        let entry = base.log.iter().rfind(|entry| entry.kind == LogKind::Phase);
        let since = entry.map_or(state.phase_since, |entry| entry.at);
        RollbackView {
            at: crate::human::time(state.phase_since, tz),
            by: entry.map_or_else(String::new, |entry| display_name(plan, &entry.author)),
            reason: entry
                .and_then(|entry| entry.data.phase())
                .and_then(|change| change.reason.clone())
                .unwrap_or_default(),
            procedure: plan.rollback.procedure.clone(),
            entries: named_entries(plan, &base.log, LogKind::Decision, since, tz),
        }
    })
}

/// The log's entries of `kind` from `since`, with people's names from the plan.
fn named_entries(
    plan: &Plan,
    log: &[LogEntry],
    kind: LogKind,
    since: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Vec<EntryRow> {
    sections::entries(log, kind, since, Timestamp::MAX, tz)
        .into_iter()
        .map(|entry| EntryRow {
            author: display_name(plan, &entry.author),
            ..entry
        })
        .collect()
}

fn first_alert(data: &ReportData) -> Option<Timestamp> {
    data.alerts.iter().map(|alert| alert.opened_at).min()
}
