//! `golive timeline`: the launch log as a readable Markdown document — the minutes of the launch.

use std::fmt::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::core::LaunchState;
use crate::core::actions::{ActionItem, is_overdue};
use crate::core::lifecycle::owner_label;
use crate::core::log::{self, LogData, LogEntry, LogKind};
use crate::human;
use crate::plan::Plan;
use crate::report::runbook_rows;

/// Renders the timeline from the plan, the state, the whole log (oldest first) and the action
/// items, with every time shown in the launch's time zone.
pub fn render(
    plan: &Plan,
    state: &LaunchState,
    entries: &[LogEntry],
    actions: &[ActionItem],
    now: Timestamp,
) -> String {
    let tz = &plan.launch.timezone;
    let mut out = String::new();
    let _ = writeln!(out, "# Launch timeline: {}\n", plan.launch.name);
    let _ = writeln!(
        out,
        "- Current phase: **{}** since {}",
        state.phase,
        human::time(state.phase_since, tz)
    );
    let _ = writeln!(
        out,
        "- Planned go-live: {}",
        human::time(plan.launch.go_live, tz)
    );
    let days = plan.launch.hypercare_days;
    let _ = writeln!(
        out,
        "- Hypercare: {days} {}",
        if days == 1.0 { "day" } else { "days" }
    );
    let _ = writeln!(out, "- Exported: {}\n", human::time(now, tz));

    phases_section(&mut out, entries, tz);
    checklist_section(&mut out, plan, state, tz);
    runbook_section(&mut out, plan, state, entries, now);

    section(&mut out, "Decisions", entries, LogKind::Decision, tz);
    actions_section(&mut out, actions, now, tz);
    section(&mut out, "Lessons learned", entries, LogKind::Lesson, tz);
    section(&mut out, "Feedback", entries, LogKind::Feedback, tz);
    section(&mut out, "Notes", entries, LogKind::Note, tz);

    out.push_str("## Full log\n\n");
    if entries.is_empty() {
        out.push_str("The log is empty.\n");
    }
    for entry in entries {
        let _ = writeln!(
            out,
            "- {} · {} · {}: {}",
            human::time(entry.at, tz),
            entry.kind,
            entry.author,
            entry_text(entry)
        );
    }
    out
}

/// An entry's text on one line; feedback through a report's link comes from people without
/// tokens, so whatever they wrote must read as text in a wiki, not render as a link, an image or
/// HTML.
fn entry_text(entry: &LogEntry) -> String {
    match entry.data {
        LogData::Feedback(_) => inert(&one_line(&entry.text)),
        _ => one_line(&entry.text),
    }
}

/// The phase changes from the log; an entry whose details do not read shows its time and author
/// with blank details.
fn phases_section(out: &mut String, entries: &[LogEntry], tz: &TimeZone) {
    out.push_str("## Phases\n\n");
    let phases: Vec<&LogEntry> = of_kind(entries, LogKind::Phase).collect();
    if phases.is_empty() {
        out.push_str("No phase change yet.\n\n");
    } else {
        out.push_str("| When | Change | By | Forced | Reason |\n|---|---|---|---|---|\n");
        for entry in phases {
            let change = entry.data.phase();
            let _ = writeln!(
                out,
                "| {} | {} → {} | {} | {} | {} |",
                human::time(entry.at, tz),
                change.map_or("", |change| change.from.as_str()),
                change.map_or("", |change| change.to.as_str()),
                cell(&entry.author),
                if change.is_some_and(|change| change.forced) {
                    "yes"
                } else {
                    "no"
                },
                cell(
                    change
                        .and_then(|change| change.reason.as_deref())
                        .unwrap_or("")
                )
            );
        }
        out.push('\n');
    }
}

/// The checklist with who confirmed each item, when, and their note.
fn checklist_section(out: &mut String, plan: &Plan, state: &LaunchState, tz: &TimeZone) {
    out.push_str("## Checklist\n\n");
    if plan.checklist.is_empty() {
        out.push_str("The plan has no checklist.\n\n");
    } else {
        out.push_str(
            "| Item | Owner | Required | Gates | Confirmed by | When | Note |\n|---|---|---|---|---|---|---|\n",
        );
        for item in &plan.checklist {
            let confirmation = state.confirmations.get(&item.id);
            let _ = writeln!(
                out,
                "| {} — {} | {} | {} | leaving {} | {} | {} | {} |",
                item.id,
                cell(&item.title),
                cell(&owner_label(plan, &item.owner)),
                if item.required { "yes" } else { "no" },
                item.gates,
                confirmation.map_or("**not confirmed**".to_string(), |c| cell(&c.by)),
                confirmation.map_or(String::new(), |c| human::time(c.at, tz)),
                confirmation
                    .and_then(|c| c.note.as_deref())
                    .map_or(String::new(), cell),
            );
        }
        out.push('\n');
    }
}

/// The action items, overdue ones marked.
fn actions_section(out: &mut String, actions: &[ActionItem], now: Timestamp, tz: &TimeZone) {
    out.push_str("## Action items\n\n");
    if actions.is_empty() {
        out.push_str("None.\n\n");
    } else {
        let today = now.to_zoned_datetime(tz.clone()).date();
        out.push_str("| # | Title | Owner | Due | Status |\n|---|---|---|---|---|\n");
        for item in actions {
            let status = if is_overdue(item, today) {
                "**overdue**".to_string()
            } else {
                item.status.to_string()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                item.id,
                cell(&item.title),
                cell(&item.owner),
                item.due.map_or(String::new(), |due| due.to_string()),
                status
            );
        }
        out.push('\n');
    }
}

/// The runbook: each step's planned and actual times (in the launch's time zone), who started and
/// finished it, and how far off plan it ended (or is now).
fn runbook_section(
    out: &mut String,
    plan: &Plan,
    state: &LaunchState,
    entries: &[LogEntry],
    now: Timestamp,
) {
    out.push_str("## Runbook\n\n");
    if plan.runbook.steps.is_empty() {
        out.push_str("The plan has no runbook.\n\n");
        return;
    }
    let records = log::step_records(entries);
    let _ = writeln!(out, "Times in {}.\n", plan.launch.timezone_name);
    out.push_str("| Step | Owner | Phase | Planned | Actual | Started by | Finished by | State | Versus plan | Note |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for row in runbook_rows::rows(plan, &records, state.phase, now) {
        let _ = writeln!(
            out,
            "| {} — {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.id,
            cell(&row.title),
            cell(&row.owner),
            row.phase,
            row.planned,
            row.actual,
            cell(&row.started_by),
            cell(&row.finished_by),
            row.state,
            row.versus_plan,
            cell(&row.note),
        );
    }
    out.push('\n');
}

fn of_kind(entries: &[LogEntry], kind: LogKind) -> impl Iterator<Item = &LogEntry> {
    entries.iter().filter(move |entry| entry.kind == kind)
}

fn section(out: &mut String, title: &str, entries: &[LogEntry], kind: LogKind, tz: &TimeZone) {
    let _ = writeln!(out, "## {title}\n");
    let mut any = false;
    for entry in of_kind(entries, kind) {
        any = true;
        let _ = writeln!(
            out,
            "- {} — {}: {}",
            human::time(entry.at, tz),
            entry.author,
            entry_text(entry)
        );
    }
    if !any {
        out.push_str("None recorded.\n");
    }
    out.push('\n');
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text that renders as itself in Markdown: HTML's angle brackets as entities, and the characters
/// that make links, images, emphasis and code backslash-escaped (CommonMark allows escaping any
/// ASCII punctuation).
fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '!'
            | '|' | '~' => {
                out.push('\\');
                out.push(character);
            }
            other => out.push(other),
        }
    }
    out
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_support::plan_with_checklist;
    use crate::domain::{Owner, Phase, Role};
    use crate::plan::ChecklistItem;

    #[test]
    fn the_timeline_lists_phases_checklist_decisions_and_actions_in_local_time() {
        let mut plan = plan_with_checklist(vec![ChecklistItem {
            id: "backup".into(),
            title: "Backup | restore tested".into(),
            owner: Owner::Role(Role::OpsLead),
            required: true,
            gates: Phase::GoNoGo,
        }]);
        plan.launch.timezone = TimeZone::get("Europe/Berlin").unwrap();
        let at = Timestamp::from_second(1_800_000_000).unwrap(); // 2027-01-15 08:00:00 UTC
        let state = LaunchState::new(at);
        let entries = vec![
            LogEntry {
                id: 1,
                at,
                author: "alice".into(),
                kind: LogKind::Phase,
                text: "Phase planned → go_no_go".into(),
                data: crate::core::log::LogData::read(
                    LogKind::Phase,
                    serde_json::json!({"from": "planned", "to": "go_no_go", "forced": false}),
                ),
            },
            LogEntry {
                id: 2,
                at,
                author: "bob".into(),
                kind: LogKind::Decision,
                text: "Go for launch".into(),
                data: crate::core::log::LogData::None,
            },
        ];
        let text = render(&plan, &state, &entries, &[], at);
        assert!(text.starts_with("# Launch timeline: Test launch"));
        assert!(
            text.contains("| 2027-01-15 09:00:00 CET | planned → go_no_go | alice | no |"),
            "{text}"
        );
        assert!(text.contains("Backup \\| restore tested"), "{text}");
        assert!(text.contains("**not confirmed**"));
        assert!(text.contains("- 2027-01-15 09:00:00 CET — bob: Go for launch"));
        assert!(text.contains("## Lessons learned\n\nNone recorded."));
    }

    #[test]
    fn feedback_through_a_link_reads_as_text_not_as_markdown_links_or_html() {
        let mut plan = plan_with_checklist(vec![]);
        plan.launch.timezone = TimeZone::get("Europe/Berlin").unwrap();
        let at = Timestamp::from_second(1_800_000_000).unwrap(); // 2027-01-15 08:00:00 UTC
        let entries = vec![LogEntry {
            id: 1,
            at,
            author: "Alice Adler".into(),
            kind: LogKind::Feedback,
            text: "See [the fix](https://evil.example) ![x](https://evil.example/p.png) <img src=x onerror=alert(1)> & *thanks*".into(),
            data: LogData::Feedback(crate::core::log::data::FeedbackByLink {
                via: "feedback link".into(),
                about: "final".into(),
                recipient: "alice@example.com".into(),
            }),
        }];
        let text = render(&plan, &LaunchState::new(at), &entries, &[], at);
        assert!(
            text.contains(
                "- 2027-01-15 09:00:00 CET — Alice Adler: See \\[the fix\\]\\(https://evil.example\\) \\!\\[x\\]\\(https://evil.example/p.png\\) &lt;img src=x onerror=alert\\(1\\)&gt; & \\*thanks\\*\n"
            ),
            "{text}"
        );
        assert!(!text.contains("<img"), "{text}");
        assert!(!text.contains("[the fix]("), "{text}");
    }

    #[test]
    fn an_older_phase_entry_whose_details_do_not_read_is_listed_with_blank_details() {
        let mut plan = plan_with_checklist(vec![]);
        plan.launch.timezone = TimeZone::get("Europe/Berlin").unwrap();
        let at = Timestamp::from_second(1_800_000_000).unwrap(); // 2027-01-15 08:00:00 UTC
        let entries = vec![LogEntry {
            id: 1,
            at,
            author: "alice".into(),
            kind: LogKind::Phase,
            text: "Phase → go_no_go".into(),
            data: crate::core::log::LogData::read(
                LogKind::Phase,
                serde_json::json!({"phase": "go_no_go"}),
            ),
        }];
        let text = render(&plan, &LaunchState::new(at), &entries, &[], at);
        assert!(
            text.contains("| 2027-01-15 09:00:00 CET |  →  | alice | no |  |"),
            "{text}"
        );
    }

    #[test]
    fn the_timeline_shows_the_runbook_with_planned_and_actual_times_from_the_log() {
        use crate::plan::runbook::{PlannedStart, Runbook, RunbookStep};
        let mut plan = plan_with_checklist(vec![]);
        plan.launch.timezone = TimeZone::get("Europe/Berlin").unwrap();
        let go_live = plan.launch.go_live; // 2027-01-15 08:00:00 UTC, 09:00 CET
        let minutes = |n: i64| {
            go_live
                .checked_add(jiff::SignedDuration::from_mins(n))
                .unwrap()
        };
        let step = |id: &str, offset: i64| RunbookStep {
            id: id.into(),
            title: format!("Step {id}"),
            owner: Owner::Role(Role::OpsLead),
            start: PlannedStart::Offset(jiff::SignedDuration::from_mins(offset)),
            planned_start: minutes(offset),
            duration: std::time::Duration::from_secs(600),
            phase: Phase::Deploying,
            depends_on: vec![],
            rollback_point: false,
            rollback_procedure: None,
            verify: vec![],
        };
        plan.runbook = Runbook {
            steps: vec![step("migrate", 0), step("deploy", 10), step("cleanup", 20)],
            ..Runbook::default()
        };
        let change = |id: i64, at: Timestamp, author: &str, step: &str, action: &str, to: &str| {
            LogEntry {
                id,
                at,
                author: author.into(),
                kind: LogKind::Runbook,
                text: format!("Step `{step}` {to}"),
                data: crate::core::log::LogData::read(
                    LogKind::Runbook,
                    serde_json::json!({"step": step, "action": action, "to": to, "forced": false, "reason": null}),
                ),
            }
        };
        let entries = vec![
            change(1, minutes(2), "aylin", "migrate", "start", "running"),
            change(2, minutes(15), "jonas", "migrate", "done", "done"),
            change(3, minutes(16), "aylin", "deploy", "start", "running"),
            // The next day.
            change(
                4,
                minutes(24 * 60 + 5),
                "bob",
                "cleanup",
                "start",
                "running",
            ),
            change(5, minutes(26 * 60 + 35), "bob", "cleanup", "done", "done"),
        ];
        let mut state = LaunchState::new(go_live);
        state.phase = Phase::Deploying;
        let text = render(&plan, &state, &entries, &[], minutes(30));
        assert!(
            text.contains("| 09:20–09:30 (+00:20) | 2027-01-16 09:05–11:35 | bob | bob | done | ended 1 d 2 h late |"),
            "{text}"
        );
        assert!(
            text.contains("## Runbook\n\nTimes in Europe/Berlin."),
            "{text}"
        );
        assert!(
            text.contains("| migrate — Step migrate | ops_lead | deploying | 09:00–09:10 (+00:00) | 09:02–09:15 | aylin | jonas | done | ended 5 min late |"),
            "{text}"
        );
        assert!(
            text.contains("| deploy — Step deploy | ops_lead | deploying | 09:10–09:20 (+00:10) | 09:16– | aylin |  | running | 4 min behind now |"),
            "{text}"
        );
    }
}
