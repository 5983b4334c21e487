//! The engine's smaller notices as people read them: the runbook lateness warning (email and chat,
//! with the plan's chat handles), the rollback recommendation of a failed runbook step (email) and
//! the action-item reminder (email). Pure: plain values, `now` and the launch's time zone in, a
//! [`Notice`] (or a subject and text) out, so each can be kept as a reviewed snapshot in
//! `tests/snapshots/notices/` (`UPDATE_SNAPSHOTS=1 cargo test --lib report::notices` rewrites
//! them).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::core::message::{GoliveBody, RunbookLateBody};
use crate::core::runbook::LateKind;
use crate::domain::Phase;
use crate::human;
use crate::plan::recipients::Addressee;
use crate::plan::runbook::{PlannedStart, RunbookStep};
use crate::report::alert_message::chat_escape;
use crate::report::notice::Notice;

/// A runbook step found late, with what the warning needs to say about it.
pub struct LateStep<'a> {
    pub launch: &'a str,
    pub step: &'a RunbookStep,
    pub kind: LateKind,
    /// 1 warns the owner, 2 the project manager.
    pub level: u8,
    /// When the step should have started (not started) or ended (overrunning).
    pub since: Timestamp,
    /// The owner as people know them, e.g. "Jonas Weber (jonas)" or a role.
    pub owner: String,
    /// When the owner was warned (level 2; `now` stands in if it is not known).
    pub owner_warned_at: Option<Timestamp>,
    /// The people warned: a plan's chat handle mentions them, else their name is written out.
    pub addressees: &'a [Addressee],
}

/// What is late about the step, as one clause ("has not started; it was planned for …"); the
/// warning's first sentence and the log entry both use it.
pub fn runbook_late_what(late: &LateStep<'_>, now: Timestamp, tz: &TimeZone) -> String {
    let late_text = human::duration(now.duration_since(late.since).max(SignedDuration::ZERO));
    match late.kind {
        LateKind::NotStarted => format!(
            "has not started; it was planned for {} ({late_text} ago)",
            human::time(late.step.planned_start, tz)
        ),
        LateKind::Overrunning => format!(
            "is still running {late_text} past its expected duration of {}",
            human::exact(late.step.duration)
        ),
    }
}

/// The lateness warning of a runbook step: subject, text, chat post (mentioning the people warned)
/// and the webhook's JSON.
pub fn runbook_late(late: &LateStep<'_>, now: Timestamp, tz: &TimeZone) -> Notice {
    let step = late.step;
    let what = runbook_late_what(late, now, tz);
    let todo = match late.kind {
        LateKind::NotStarted => format!(
            "When it starts: golive step start {}\nIf it is not needed: golive step skip {} --reason \"...\"",
            step.id, step.id
        ),
        LateKind::Overrunning => format!(
            "When it is done: golive step done {}\nIf it failed: golive step fail {} --reason \"...\"",
            step.id, step.id
        ),
    };
    let subject = format!(
        "[RUNBOOK] {}: step `{}` {}",
        late.launch,
        step.id,
        match (late.kind, late.level) {
            (LateKind::NotStarted, 1) => "is late to start".to_string(),
            (LateKind::Overrunning, 1) => "is running late".to_string(),
            _ => format!("is still late (owner: {})", late.owner),
        }
    );
    let mut text = format!(
        "Runbook step `{}` ({}) {what}.\nOwner: {}\nPlanned: {} – {}{}\n",
        step.id,
        step.title,
        late.owner,
        human::time(step.planned_start, tz),
        // The end without its date and zone when they are the start's.
        human::time_near(step.planned_end(), step.planned_start, tz),
        match step.start {
            PlannedStart::Offset(_) => format!(" (go-live {})", step.start),
            PlannedStart::At(_) => String::new(),
        }
    );
    if late.level == 2 {
        text.push_str(&format!(
            "Its owner was warned at {}.\n",
            human::time(late.owner_warned_at.unwrap_or(now), tz)
        ));
    }
    text.push('\n');
    text.push_str(&todo);
    text.push('\n');
    let handles: Vec<String> = late
        .addressees
        .iter()
        .map(|person| {
            // A plan's chat handle is a mention on purpose; a name is plain text.
            person
                .chat
                .clone()
                .unwrap_or_else(|| chat_escape(&person.name))
        })
        .collect();
    let late_seconds = now.duration_since(late.since).as_secs().max(0);
    Notice {
        chat: format!(
            "*{}* {}\n{}",
            chat_escape(&subject),
            handles.join(" "),
            chat_escape(&text)
        ),
        subject,
        text,
        html: None,
        json: GoliveBody::RunbookLate(RunbookLateBody {
            launch: late.launch.to_string(),
            step: step.id.clone(),
            late: late.kind,
            level: late.level,
            late_seconds,
        }),
    }
}

/// The rollback recommendation of a failed runbook step: subject and text. `rollback_point` is
/// the last rollback point done (its own procedure then applies), `procedure` the procedure that
/// applies (see `core::runbook::applicable_rollback`).
pub fn failed_step_rollback(
    launch: &str,
    step: &RunbookStep,
    phase: Phase,
    by: &str,
    reason: Option<&str>,
    rollback_point: Option<&str>,
    procedure: &str,
) -> (String, String) {
    let which = match rollback_point {
        Some(point) => format!(
            "Rollback point `{point}` has been passed, so this procedure applies (not the plan's general one)"
        ),
        None => "No rollback point has been passed, so the plan's rollback procedure applies"
            .to_string(),
    };
    let procedure_text = if procedure.trim().is_empty() {
        "(the plan has no rollback procedure)"
    } else {
        procedure
    };
    let subject = format!(
        "[RUNBOOK] {launch}: step `{}` FAILED — rollback procedure",
        step.id
    );
    let text = format!(
        "Runbook step `{}` ({}) failed in phase {phase}, reported by {by}{}\n\n{which}:\n{procedure_text}\n\nTo record the decision and run the rollback hook: golive rollback --reason \"...\"\nTo try the step again: golive step start {}\nTo go on without it: golive step skip {} --reason \"...\"\n",
        step.id,
        step.title,
        // The reason as its own sentence part, a full stop without one.
        reason
            .map(str::trim)
            .filter(|reason| !reason.is_empty())
            .map_or_else(|| ".".to_string(), |reason| format!(": {reason}")),
        step.id,
        step.id
    );
    (subject, text)
}

/// An open action item a reminder is about.
pub struct DueItem<'a> {
    pub id: i64,
    pub title: &'a str,
    /// The owner as people know them: "Jonas Weber (jonas)" for a person of the plan, else the
    /// role or id recorded on the item.
    pub owner: &'a str,
    pub due: Date,
}

/// Where a due item stands on `today`: "due today" or "overdue (it was due …)"; the reminder and
/// its log entry both say it.
pub fn action_state(item: &DueItem<'_>, today: Date) -> String {
    if item.due < today {
        format!("overdue (it was due {})", item.due)
    } else {
        "due today".to_string()
    }
}

/// The morning reminder of an action item due today or overdue (email only).
pub fn action_reminder(launch: &str, item: &DueItem<'_>, today: Date) -> Notice {
    let state = action_state(item, today);
    // The subject says the state with the date; the body's due line says how long ago, once.
    let when = match item.due.until(today).map(|span| span.get_days()) {
        Ok(days) if days > 1 => format!("overdue, {days} days ago"),
        Ok(1) => "overdue, yesterday".to_string(),
        _ => "today".to_string(),
    };
    Notice::plain(
        format!("[REMINDER] {launch}: action item #{} is {state}", item.id),
        format!(
            "Action item #{}: {}\nOwner: {}\nDue: {} ({when})\n\nWhen it is done: golive action done {}\nIf it will not be done: golive action drop {} --note \"why\"\n",
            item.id, item.title, item.owner, item.due, item.id, item.id
        ),
        GoliveBody::None,
    )
}

#[cfg(test)]
#[path = "notices_tests.rs"]
mod tests;
