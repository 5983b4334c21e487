//! `golive step start|done|skip|fail ID` and `golive runbook` (the runbook as a table: planned vs
//! actual times in the launch's time zone, who did what, and how late each step is).

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

use super::format::{self, shown};
use super::{ClientArgs, StepCommand};
use crate::client::{Answer, Client, ClientError, encode};
use crate::wire;

/// `golive step start`'s exit code when this pipeline run finished the step already: the job
/// skips the work instead of doing it a second time untraced.
pub const EXIT_ALREADY_DONE: u8 = 10;

/// Sends a step change and says what happened, with the exit code (`EXIT_ALREADY_DONE` for a
/// start this run had already carried to done, 0 otherwise).
pub(super) async fn step(
    client: &Client,
    args: &ClientArgs,
    command: StepCommand,
    run_id: Option<String>,
) -> Result<(String, u8), ClientError> {
    let (id, action, force, reason) = match command {
        StepCommand::Start { id, force, reason } => (id, "start", force, reason),
        StepCommand::Done { id, reason } => (id, "done", false, reason),
        StepCommand::Skip { id, reason } => (id, "skip", false, Some(reason)),
        StepCommand::Fail { id, reason } => (id, "fail", false, Some(reason)),
    };
    let body = wire::StepChangeRequest {
        reason,
        force,
        author: args.author.clone(),
        run_id: super::pipeline_run(run_id),
    };
    let path = format!("/api/v1/runbook/{}/{action}", encode(&id));
    let answer: Answer<wire::StepChanged> = client.post(&path, &body).await?;
    let code = if answer.value.already_done {
        EXIT_ALREADY_DONE
    } else {
        0
    };
    let output = shown(&answer, args.json, |changed| step_changed(&id, changed));
    Ok((output, code))
}

/// What a step change did, and for a failed step the rollback procedure that applies.
fn step_changed(id: &str, changed: &wire::StepChanged) -> String {
    let forced = if changed.change.forced {
        " (forced past unfinished dependencies)"
    } else {
        ""
    };
    let mut out = if changed.already_done {
        format!(
            "Step `{id}` is done already: this run finished it; nothing written (exit {EXIT_ALREADY_DONE}: skip its work).\n"
        )
    } else if changed.already_recorded {
        format!(
            "Step `{id}` is {} already (this run recorded it{}); nothing written.\n",
            changed.step.record.state,
            match &changed.change.run_id {
                Some(run) => format!(", run `{run}`"),
                None => String::new(),
            }
        )
    } else {
        format!("Step `{id}` is {}{forced}.\n", changed.change.to)
    };
    if let Some(rollback) = &changed.rollback {
        let which = match &rollback.after_rollback_point {
            Some(point) => format!("the procedure after rollback point `{point}`"),
            None => "the plan's rollback procedure (no rollback point passed)".to_string(),
        };
        let sent = if rollback.sent_to.is_empty() {
            String::new()
        } else {
            format!(" (sent to {})", rollback.sent_to.join(", "))
        };
        out.push_str(&format!(
            "\nRollback: {which} applies{sent}:\n{}\n",
            rollback.procedure.trim_end()
        ));
    }
    out
}

/// Prints the runbook table.
pub(super) async fn show(client: &Client, args: &ClientArgs) -> Result<String, ClientError> {
    let answer: Answer<wire::Runbook> = client.get("/api/v1/runbook").await?;
    Ok(shown(&answer, args.json, table))
}

/// The runbook answer as a table.
pub(super) fn table(runbook: &wire::Runbook) -> String {
    if runbook.steps.is_empty() {
        return "The plan has no runbook steps.\n".to_string();
    }
    let zone = format::zone(&runbook.timezone);
    let rows: Vec<[String; 9]> = runbook.steps.iter().map(|step| row(step, &zone)).collect();
    format::table(
        &[
            "STEP", "PHASE", "OWNER", "STATE", "PLANNED", "ACTUAL", "BY", "LATE", "NOTE",
        ],
        &rows,
    )
}

/// One step as a row of the table.
fn row(step: &wire::StepView, zone: &TimeZone) -> [String; 9] {
    let local = |at: Timestamp| at.to_zoned_datetime(zone.clone());
    let time = |at: &ZonedDateTime| at.strftime("%H:%M").to_string();
    let record = &step.record;
    let planned_day = local(step.planned_start).date();
    // Actual times on another day than planned carry their date.
    let actual_time = |at: &ZonedDateTime| {
        if at.date() == planned_day {
            time(at)
        } else {
            at.strftime("%Y-%m-%d %H:%M").to_string()
        }
    };
    let started = record.started_at.map(local);
    let finished = record.finished_at.map(local);
    let started_text = started.as_ref().map(actual_time).unwrap_or_default();
    // An end on the day of its start needs no date again.
    let finished_text = match (&started, &finished) {
        (Some(start), Some(end)) if start.date() == end.date() => time(end),
        (_, Some(end)) => actual_time(end),
        (_, None) => String::new(),
    };
    let actual = if started_text.is_empty() && finished_text.is_empty() {
        String::new()
    } else {
        format!("{started_text}–{finished_text}")
    };
    let by = match (
        record.started_by.clone().unwrap_or_default(),
        record.finished_by.clone().unwrap_or_default(),
    ) {
        (started, finished) if finished.is_empty() || started == finished => started,
        (started, finished) if started.is_empty() => finished,
        (started, finished) => format!("{started}/{finished}"),
    };
    [
        step.id.clone(),
        step.phase.clone(),
        step.owner.clone(),
        record.state.to_uppercase(),
        format!(
            "{}–{}",
            time(&local(step.planned_start)),
            time(&local(step.planned_end))
        ),
        actual,
        by,
        if step.late_seconds > 0 {
            crate::human::seconds(i64::try_from(step.late_seconds).unwrap_or(i64::MAX))
        } else {
            String::new()
        },
        note(step),
    ]
}

/// The table's note: forced, the reason, what a pending step waits for, a rollback point.
fn note(step: &wire::StepView) -> String {
    let mut note = Vec::new();
    if step.record.forced {
        note.push("forced".to_string());
    }
    if let Some(reason) = &step.record.reason {
        note.push(reason.clone());
    }
    if !step.blocked_by.is_empty() && step.record.state == "pending" {
        note.push(format!("waits for {}", step.blocked_by.join(", ")));
    }
    if step.rollback_point {
        note.push("rollback point".to_string());
    }
    note.join("; ")
}
