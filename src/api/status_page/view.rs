//! What the status page shows, as plain serializable values: built from the engine's snapshot,
//! the checks' views, the store's per-minute history, open alerts and the newest log entries, at
//! a given `now`. Pure (no I/O, no clock), so every wording and edge is unit-tested; the templates
//! only lay these values out. Times are in the launch's time zone; every state carries a word and
//! an icon next to its colour class, so no meaning rests on colour alone.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::core::LaunchState;
use crate::core::actions::{ActionStatus, is_overdue};
use crate::core::alert::{Alert, rollback_recommended};
use crate::core::health::Health;
use crate::core::lifecycle::{blockers_leaving, hypercare_end, owner_label};
use crate::core::log::LogEntry;
use crate::core::rollup::Rollup;
use crate::core::runbook;
use crate::core::snapshot::Snapshot;
use crate::domain::{Owner, Phase};
use crate::engine::CheckView;
use crate::plan::Plan;
use crate::plan::checks::{Check, Severity};
use crate::report::value;

/// How many minutes of history each check's strip shows, the minute in progress included.
pub const HISTORY_MINUTES: i64 = 30;

mod format;
mod groups;
mod runbook_rows;

use format::time_view;
pub use format::{TimeView, phase_label};
pub use groups::{COLLAPSE_ABOVE, CheckGroup};
use runbook_rows::step_row;
pub use runbook_rows::{RunbookView, StepRow};

/// Everything the page is built from, read at one moment.
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    pub snapshot: &'a Snapshot,
    pub checks: &'a [CheckView],
    /// Stored minutes per check id (Unix minute, rollup), oldest first; the engine's unwritten ones
    /// come with each check's view.
    pub history: &'a HashMap<String, Vec<(i64, Rollup)>>,
    /// Open alerts, newest first.
    pub alerts: &'a [Alert],
    /// The newest log entries, newest first.
    pub log: &'a [LogEntry],
    pub now: Timestamp,
}

/// The whole page.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub launch: String,
    pub timezone: String,
    pub updated: TimeView,
    pub phase: PhaseView,
    pub go_live: GoLiveView,
    pub hypercare_ends: Option<TimeView>,
    /// The phase the launch moves to next, if any (for "blockers for leaving").
    pub next_phase: Option<String>,
    pub blockers: Vec<BlockerView>,
    pub summary: SummaryView,
    /// The checks shown in full: all of them on a plan of up to [`COLLAPSE_ABOVE`] checks, else
    /// the failing and unknown ones.
    pub checks: Vec<CheckRow>,
    /// On a larger plan, the healthy and unwatched checks, folded by group with a count.
    pub check_groups: Vec<CheckGroup>,
    pub history_minutes: i64,
    pub alerts: Vec<AlertRow>,
    pub checklist: Vec<ChecklistRow>,
    pub runbook: RunbookView,
    pub actions: Vec<ActionRow>,
    pub log: Vec<LogRow>,
    /// The newest stakeholder update sent (set by the page from its own read of the log).
    pub latest_update: Option<LogRow>,
    /// On a standby: the page is the store's view, not the live one (set by the page).
    pub standby: Option<StandbyBanner>,
}

/// What a standby's page says above everything: when it read the database, the newest entry the
/// active wrote, and where the live page is.
#[derive(Debug, Clone, Serialize)]
pub struct StandbyBanner {
    /// When the standby read the database.
    pub stored_at: TimeView,
    /// The newest log entry's time: how recent what the active wrote is.
    pub newest_entry: Option<TimeView>,
    /// A sentence with a link to the active's page, already escaped HTML.
    pub active_link_html: String,
}

/// Marks `view` as a standby's: the banner, and every check's reason (folded groups' rows too)
/// said as what it is — the health the store tells, with the time it holds for
/// (`api::standby_snapshot::derive` writes the sentence into `stored_health`'s reasons), since
/// probe results live only in the active's memory.
pub fn mark_as_standby(
    view: &mut StatusView,
    stored_health: &crate::core::lifecycle::CheckHealthMap,
    newest_entry: Option<Timestamp>,
    active_link_html: String,
    timezone: &TimeZone,
    now: Timestamp,
) {
    let grouped = view
        .check_groups
        .iter_mut()
        .flat_map(|group| &mut group.checks);
    for row in view.checks.iter_mut().chain(grouped) {
        row.reason = stored_health
            .get(&row.id)
            .and_then(|gate| gate.reason.clone())
            .unwrap_or_else(|| "unknown: no probe result or health change stored yet".to_string());
    }
    view.standby = Some(StandbyBanner {
        stored_at: time_view(now, now, timezone),
        newest_entry: newest_entry.map(|at| time_view(at, now, timezone)),
        active_link_html,
    });
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseView {
    /// snake_case name (`go_no_go`), also the CSS class.
    pub name: &'static str,
    /// For people: `go/no-go`.
    pub label: &'static str,
    pub since: TimeView,
    /// `for 12 min`.
    pub time_in_phase: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoLiveView {
    pub at: TimeView,
    /// `in 2 h 05 min` or `3 d 4 h ago`.
    pub relative: String,
    pub upcoming: bool,
}

/// What keeps the launch from the next phase; the message names the owner.
#[derive(Debug, Clone, Serialize)]
pub struct BlockerView {
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryView {
    pub checks_total: usize,
    pub checks_healthy: usize,
    pub checks_failing: usize,
    pub checks_unknown: usize,
    /// Checks golive does not probe now (not in this phase, or the launch is over).
    pub checks_unwatched: usize,
    pub alerts_open: usize,
    pub alerts_unacknowledged: usize,
    pub checklist_total: usize,
    pub checklist_confirmed: usize,
    pub actions_open: usize,
    pub actions_overdue: usize,
    pub steps_total: usize,
    pub steps_finished: usize,
    pub steps_late: usize,
    pub steps_failed: usize,
    /// `ok`, `warning` or `failing`: the page's overall state, as a class.
    pub overall: &'static str,
    /// The same in words.
    pub overall_label: &'static str,
}

/// A state as shown: a CSS class, an icon and a word (never the colour alone).
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    pub class: &'static str,
    pub icon: &'static str,
    pub label: &'static str,
}

impl StateView {
    /// The state shown with the CSS `class`, the `icon` and the word `label`.
    const fn new(class: &'static str, icon: &'static str, label: &'static str) -> Self {
        StateView { class, icon, label }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub state: StateView,
    pub severity: StateView,
    pub gate: bool,
    /// Whether it runs in the current phase.
    pub active: bool,
    pub since: TimeView,
    /// `for 3 min`.
    pub duration: String,
    pub reason: String,
    /// `123 ms`, or empty before the first result.
    pub latency: String,
    pub history: Vec<HistoryCell>,
    /// `28 of 30 min without failures`, for people who cannot tell the colours apart.
    pub history_summary: String,
}

/// One minute of a check's history strip.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryCell {
    /// `ok`, `partial`, `fail`, `unknown` or `none`.
    pub class: &'static str,
    /// `20:03 — 12 probes, 2 failed`.
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub title: String,
    pub severity: StateView,
    pub reason: String,
    pub since: TimeView,
    /// `for 5 min`.
    pub duration: String,
    /// Levels notified so far (0: nobody yet).
    pub level: usize,
    /// `level 2 of 3`, `nobody notified yet`, `no escalation policy`.
    pub escalation: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<TimeView>,
    /// The contingency of each risk linked to the alert's check: often the cheaper fix, so it
    /// comes before the rollback advice.
    pub contingencies: Vec<ContingencyView>,
    /// Whether the plan's rollback criteria hold for this alert now (the procedure is in the
    /// page's rollback section).
    pub rollback_recommended: bool,
}

/// A risk's contingency plan, as an open alert shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ContingencyView {
    /// The risk's id.
    pub risk: String,
    pub title: String,
    pub contingency: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChecklistRow {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub required: bool,
    /// The phase it gates, for people.
    pub gates: &'static str,
    pub state: StateView,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<TimeView>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionRow {
    pub id: i64,
    pub title: String,
    pub owner: String,
    pub due: Option<String>,
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogRow {
    pub id: i64,
    pub at: TimeView,
    pub kind: &'static str,
    pub author: String,
    pub text: String,
}

/// A log entry as the page shows it.
pub fn log_row(entry: &LogEntry, now: Timestamp, timezone: &jiff::tz::TimeZone) -> LogRow {
    LogRow {
        id: entry.id,
        at: time_view(entry.at, now, timezone),
        kind: entry.kind.as_str(),
        author: entry.author.clone(),
        text: entry.text.clone(),
    }
}

/// Builds the page's values from one moment's inputs.
pub fn build(inputs: &Inputs<'_>) -> StatusView {
    let plan = inputs.plan;
    let timezone = &plan.launch.timezone;
    let now = inputs.now;
    let state = &inputs.snapshot.state;
    let time = |at: Timestamp| time_view(at, now, timezone);

    let checks = check_rows(inputs);
    let alerts: Vec<AlertRow> = inputs
        .alerts
        .iter()
        .filter(|alert| alert.is_open())
        .map(|alert| alert_row(plan, inputs.checks, state.phase, alert, now, timezone))
        .collect();
    let checklist = checklist_rows(plan, state, now);
    let steps: Vec<StepRow> = runbook::view(plan, &inputs.snapshot.runbook, state.phase, now)
        .into_iter()
        .map(|step| step_row(plan, step, now, timezone))
        .collect();
    let (rollback_point, rollback_procedure) =
        runbook::applicable_rollback(plan, &inputs.snapshot.runbook);
    let runbook = RunbookView {
        steps,
        rollback_point: rollback_point.map(str::to_string),
        rollback_procedure: rollback_procedure.trim().to_string(),
    };
    let actions = action_rows(inputs);
    let summary = summary(&checks, &alerts, &checklist, &actions, &runbook);
    let (checks, check_groups) = groups::fold(checks);
    let log: Vec<LogRow> = inputs
        .log
        .iter()
        .map(|entry| log_row(entry, now, timezone))
        .collect();

    let go_live = plan.launch.go_live;
    let upcoming = go_live > now;
    StatusView {
        launch: plan.launch.name.clone(),
        timezone: plan.launch.timezone_name.clone(),
        updated: time(now),
        phase: PhaseView {
            name: state.phase.as_str(),
            label: phase_label(state.phase),
            since: time(state.phase_since),
            time_in_phase: format!("for {}", crate::human::elapsed(state.phase_since, now)),
        },
        go_live: GoLiveView {
            at: time(go_live),
            relative: if upcoming {
                format!("in {}", crate::human::elapsed(now, go_live))
            } else {
                format!("{} ago", crate::human::elapsed(go_live, now))
            },
            upcoming,
        },
        hypercare_ends: hypercare_end(plan, state).map(time),
        next_phase: state
            .phase
            .next()
            .map(|phase| phase_label(phase).to_string()),
        blockers: blockers_leaving(plan, state, &inputs.snapshot.checks, state.phase)
            .into_iter()
            .map(|blocker| BlockerView {
                message: blocker.message,
            })
            .collect(),
        summary,
        checks,
        check_groups,
        history_minutes: HISTORY_MINUTES,
        alerts,
        checklist,
        runbook,
        actions,
        log,
        latest_update: None,
        standby: None,
    }
}

/// The checks, each with whether golive watches it now.
fn check_rows(inputs: &Inputs<'_>) -> Vec<CheckRow> {
    let plan = inputs.plan;
    let state = &inputs.snapshot.state;
    inputs
        .checks
        .iter()
        .map(|check| {
            let watch = if check.active {
                Watch::Watched
            } else if state.phase.is_terminal() {
                Watch::LaunchOver
            } else {
                Watch::NotThisPhase
            };
            let planned = plan.checks.iter().find(|planned| planned.id == check.id);
            check_row(
                check,
                planned,
                inputs.history.get(&check.id),
                watch,
                inputs.now,
                &plan.launch.timezone,
            )
        })
        .collect()
}

/// The checklist with each item's confirmation.
fn checklist_rows(plan: &Plan, state: &LaunchState, now: Timestamp) -> Vec<ChecklistRow> {
    let time = |at: Timestamp| time_view(at, now, &plan.launch.timezone);
    plan.checklist
        .iter()
        .map(|item| {
            let confirmation = state.confirmations.get(&item.id);
            ChecklistRow {
                id: item.id.clone(),
                title: item.title.clone(),
                owner: owner_label(plan, &item.owner),
                required: item.required,
                gates: phase_label(item.gates),
                state: if confirmation.is_some() {
                    StateView::new("ok", "✓", "confirmed")
                } else {
                    StateView::new("pending", "○", "not confirmed")
                },
                confirmed_by: confirmation.map(|c| c.by.clone()),
                confirmed_at: confirmation.map(|c| time(c.at)),
                note: confirmation.and_then(|c| c.note.clone()),
            }
        })
        .collect()
}

/// The open action items, overdue ones marked.
fn action_rows(inputs: &Inputs<'_>) -> Vec<ActionRow> {
    let plan = inputs.plan;
    let today = inputs
        .now
        .to_zoned_datetime(plan.launch.timezone.clone())
        .date();
    inputs
        .snapshot
        .actions
        .iter()
        .filter(|item| item.status == ActionStatus::Open)
        .map(|item| ActionRow {
            id: item.id,
            title: item.title.clone(),
            owner: action_owner(plan, &item.owner),
            due: item.due.map(|due| due.to_string()),
            overdue: is_overdue(item, today),
        })
        .collect()
}

/// The counts at the top of the page and the overall state they add up to.
fn summary(
    checks: &[CheckRow],
    alerts: &[AlertRow],
    checklist: &[ChecklistRow],
    actions: &[ActionRow],
    runbook: &RunbookView,
) -> SummaryView {
    let count = |class: &str| checks.iter().filter(|c| c.state.class == class).count();
    let (healthy, failing, unwatched) = (count("ok"), count("fail"), count("idle"));
    let alerts_unacknowledged = alerts
        .iter()
        .filter(|a| a.acknowledged_by.is_none())
        .count();
    let actions_overdue = actions.iter().filter(|a| a.overdue).count();
    let step_count = |wanted: &[&str]| {
        runbook
            .steps
            .iter()
            .filter(|step| wanted.contains(&step.state.label))
            .count()
    };
    let steps_failed = step_count(&["failed"]);
    let steps_late = runbook
        .steps
        .iter()
        .filter(|step| step.late.is_some())
        .count();
    let (overall, overall_label) = if failing > 0 || alerts_unacknowledged > 0 || steps_failed > 0 {
        ("fail", "needs attention")
    } else if !alerts.is_empty() || actions_overdue > 0 || steps_late > 0 {
        ("warn", "being handled")
    } else {
        // Not "all clear": checks that have not run yet are unknown, not healthy.
        ("ok", "no known problems")
    };
    SummaryView {
        checks_total: checks.len(),
        checks_healthy: healthy,
        checks_failing: failing,
        checks_unknown: checks.len() - healthy - failing - unwatched,
        checks_unwatched: unwatched,
        alerts_open: alerts.len(),
        alerts_unacknowledged,
        checklist_total: checklist.len(),
        checklist_confirmed: checklist
            .iter()
            .filter(|i| i.confirmed_by.is_some())
            .count(),
        actions_open: actions.len(),
        actions_overdue,
        steps_total: runbook.steps.len(),
        steps_finished: step_count(&["done", "skipped"]),
        steps_late,
        steps_failed,
        overall,
        overall_label,
    }
}

/// Whether golive probes a check now. A check it no longer probes keeps its last health in the
/// engine, which must not read as a current "healthy".
#[derive(Clone, Copy, PartialEq)]
enum Watch {
    Watched,
    NotThisPhase,
    /// The launch is closed or rolled back: nothing is probed any more.
    LaunchOver,
}

fn check_row(
    check: &CheckView,
    planned: Option<&Check>,
    history: Option<&Vec<(i64, Rollup)>>,
    watch: Watch,
    now: Timestamp,
    timezone: &TimeZone,
) -> CheckRow {
    let last_known = match check.health {
        Health::Healthy => StateView::new("ok", "✓", "healthy"),
        Health::Failing => StateView::new("fail", "✗", "failing"),
        Health::Unknown => StateView::new("unknown", "?", "unknown"),
    };
    let state = match watch {
        Watch::Watched => last_known.clone(),
        Watch::NotThisPhase => StateView::new("idle", "–", "not watched in this phase"),
        Watch::LaunchOver => StateView::new("idle", "–", "no longer watched"),
    };
    let reason = check.last.as_ref().map_or_else(
        || "no result yet".to_string(),
        |last| {
            last.value
                .zip(planned)
                .and_then(|(number, planned)| metric_reading(planned, number, &last.reason))
                .unwrap_or_else(|| last.reason.clone())
        },
    );
    let reason = if watch == Watch::Watched || check.last.is_none() {
        reason
    } else {
        format!("last known: {} ({reason})", last_known.label)
    };
    let (history, history_summary) = history_strip(
        history.map_or(&[][..], Vec::as_slice),
        &check.unwritten_minutes,
        now,
        timezone,
    );
    CheckRow {
        id: check.id.clone(),
        name: check.name.clone(),
        kind: check.kind,
        state,
        severity: severity_view(check.severity),
        gate: check.gate,
        active: check.active,
        since: time_view(check.since, now, timezone),
        duration: format!("for {}", crate::human::elapsed(check.since, now)),
        reason,
        latency: check.last.as_ref().map_or_else(String::new, |last| {
            crate::human::latency(std::time::Duration::from_secs_f64(
                last.latency_ms.max(0.0) / 1000.0,
            ))
        }),
        history,
        history_summary,
    }
}

/// The last [`HISTORY_MINUTES`] minutes, oldest first, the minute in progress last, with a
/// summary in words. `stored` comes from the store, `unwritten` from the engine (minutes not
/// written yet, the one in progress among them); a minute in both is merged.
fn history_strip(
    stored: &[(i64, Rollup)],
    unwritten: &[(i64, Rollup)],
    now: Timestamp,
    timezone: &TimeZone,
) -> (Vec<HistoryCell>, String) {
    let current = now.as_second().div_euclid(60);
    let mut by_minute: HashMap<i64, Rollup> = stored.iter().cloned().collect();
    for (minute, rollup) in unwritten {
        by_minute.entry(*minute).or_default().merge(rollup);
    }
    let (mut clean, mut failed, mut probed) = (0, 0, 0);
    let mut failing_now = false;
    let cells = (current - HISTORY_MINUTES + 1..=current)
        .map(|minute| {
            let at = Timestamp::from_second(minute * 60).unwrap_or(now);
            let mut clock = at
                .to_zoned_datetime(timezone.clone())
                .strftime("%H:%M")
                .to_string();
            if minute == current {
                clock.push_str(" (this minute, so far)");
            }
            let Some(rollup) = by_minute.get(&minute).filter(|r| r.probes > 0) else {
                return HistoryCell {
                    class: "none",
                    label: format!("{clock}: no probes"),
                };
            };
            probed += 1;
            let class = if rollup.failures == 0 && rollup.unknowns == rollup.probes {
                "unknown"
            } else if rollup.failures == 0 {
                clean += 1;
                "ok"
            } else if rollup.failures + rollup.unknowns >= rollup.probes {
                failed += 1;
                failing_now |= minute == current;
                "fail"
            } else {
                failed += 1;
                failing_now |= minute == current;
                "partial"
            };
            let mut label = format!(
                "{clock}: {} probe{}, {} failed",
                rollup.probes,
                if rollup.probes == 1 { "" } else { "s" },
                rollup.failures
            );
            if rollup.unknowns > 0 {
                label.push_str(&format!(", {} unknown", rollup.unknowns));
            }
            HistoryCell { class, label }
        })
        .collect();
    let summary = if probed == 0 {
        format!("no probes in the last {HISTORY_MINUTES} min")
    } else if failed == 0 {
        format!("{clean} of {probed} min without failures")
    } else if failing_now {
        format!("this minute: failing; {failed} of {probed} min with failures")
    } else {
        format!("{failed} of {probed} min with failures")
    };
    (cells, summary)
}

/// A metric check's value as the alert messages say it (`8 % (fails above 5 %)`), with the series'
/// labels from the probe's reason when the query returned several (`value 0.08 > 0.05
/// {route="/b"}`: the probe names the worst series in braces).
fn metric_reading(check: &Check, number: f64, probe_reason: &str) -> Option<String> {
    let reading = value::reading(check, number)?;
    let labels = probe_reason
        .find(" {")
        .zip(probe_reason.rfind('}'))
        .filter(|(start, end)| start < end)
        .map(|(start, end)| &probe_reason[start + 1..=end]);
    Some(match labels {
        Some(labels) => format!("{reading} {labels}"),
        None => reading,
    })
}

/// What an open alert says failed: for a metric check its value now, formatted as the alert
/// messages format it; otherwise the reason it opened with (an HTTP status, an Alertmanager
/// summary).
fn alert_reason(plan: &Plan, checks: &[CheckView], alert: &Alert) -> String {
    let check_id = alert.check_id();
    let planned = check_id.and_then(|id| plan.checks.iter().find(|check| check.id == id));
    let last = check_id
        .and_then(|id| checks.iter().find(|check| check.id == id))
        .and_then(|check| check.last.as_ref());
    match (planned, last) {
        (Some(planned), Some(last)) => last
            .value
            .and_then(|number| metric_reading(planned, number, &last.reason))
            .map_or_else(|| alert.reason.clone(), |reading| format!("now {reading}")),
        _ => alert.reason.clone(),
    }
}

fn alert_row(
    plan: &Plan,
    checks: &[CheckView],
    phase: Phase,
    alert: &Alert,
    now: Timestamp,
    timezone: &TimeZone,
) -> AlertRow {
    // The risks linked to the alert (its check's, or by an Alertmanager alert's labels), as the
    // alert messages name them.
    let contingencies = crate::report::alert_message::linked_risks(plan, alert)
        .into_iter()
        .map(|risk| ContingencyView {
            risk: risk.id.clone(),
            title: risk.title.clone(),
            contingency: risk.contingency.trim().to_string(),
        })
        .collect();
    let levels = alert.policy.as_ref().and_then(|id| {
        plan.alerting
            .policies
            .iter()
            .find(|policy| &policy.id == id)
            .map(|policy| policy.levels.len())
    });
    let escalation = match (levels, alert.level) {
        (None, _) => "no escalation policy: nobody is notified".to_string(),
        (Some(_), 0) => "nobody notified yet".to_string(),
        (Some(levels), level) => format!("level {level} of {levels}"),
    };
    let acknowledged = alert
        .acknowledged
        .as_ref()
        .filter(|_| alert.is_acknowledged(now));
    AlertRow {
        id: alert.id,
        title: alert.title.clone(),
        severity: severity_view(alert.severity),
        reason: alert_reason(plan, checks, alert),
        since: time_view(alert.opened_at, now, timezone),
        duration: format!("for {}", crate::human::elapsed(alert.opened_at, now)),
        level: alert.level,
        escalation,
        acknowledged_by: acknowledged
            .map(|ack| crate::plan::recipients::display_name(plan, &ack.by)),
        acknowledged_at: acknowledged.map(|ack| time_view(ack.at, now, timezone)),
        contingencies,
        rollback_recommended: rollback_recommended(&plan.rollback, phase, alert),
    }
}

/// An action item's or runbook step's owner: a person's name when the id is a person's, else the
/// role as written.
pub(super) fn action_owner(plan: &Plan, owner: &str) -> String {
    if plan.people.iter().any(|person| person.id == owner) {
        owner_label(plan, &Owner::Person(owner.to_string()))
    } else {
        owner.to_string()
    }
}

fn severity_view(severity: Severity) -> StateView {
    match severity {
        Severity::Critical => StateView::new("critical", "‼", "critical"),
        Severity::Warning => StateView::new("warning", "!", "warning"),
        Severity::Info => StateView::new("info", "i", "info"),
    }
}

#[cfg(test)]
mod tests;
