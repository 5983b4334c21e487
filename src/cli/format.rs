//! Readable output for the CLI: the daemon's answers turned into short lines a person scans.

use std::fmt::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::client::Answer;
use crate::wire;

/// What a command prints: the daemon's JSON with `--json`, else the readable text.
pub fn shown<T>(answer: &Answer<T>, json: bool, readable: impl FnOnce(&T) -> String) -> String {
    if json {
        answer.pretty()
    } else {
        readable(&answer.value)
    }
}

/// The launch's time zone by its name in an answer; UTC when the name is unknown.
pub fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

/// A time as people read it, in the launch's zone with seconds and the zone's abbreviation
/// (`2026-11-30 20:45:06 CET`).
fn when(at: Timestamp, zone: &TimeZone) -> String {
    crate::human::time(at, zone)
}

pub fn status(status: &wire::Status) -> String {
    let mut out = String::new();
    let zone = zone(&status.launch.timezone);
    let _ = writeln!(
        out,
        "{} — phase {} for {}",
        status.launch.name,
        status.phase.to_uppercase(),
        crate::human::seconds(status.time_in_phase_seconds)
    );
    let go_live = when(status.launch.go_live, &zone);
    let go_live_in = status.go_live_in_seconds;
    if go_live_in > 0 {
        let in_words = crate::human::seconds(go_live_in);
        let _ = writeln!(out, "Go-live in {in_words} ({go_live})");
    } else {
        let ago = crate::human::seconds(-go_live_in);
        let _ = writeln!(out, "Go-live was planned {ago} ago ({go_live})");
    }
    if let Some(end) = status.hypercare_ends_at {
        let _ = writeln!(out, "Hypercare ends {}", when(end, &zone));
    }
    let checklist = &status.checklist;
    let _ = writeln!(
        out,
        "\nChecklist: {}/{} confirmed ({} of {} required)",
        checklist.confirmed, checklist.total, checklist.required_confirmed, checklist.required
    );
    out.push_str(&checklist_items(&checklist.items, &zone));
    if !status.blockers.is_empty() {
        let _ = writeln!(out, "\nBlocking the move out of {}:", status.phase);
        out.push_str(&blocker_lines(&status.blockers));
    } else if let Some(next) = &status.next_phase {
        let _ = writeln!(out, "\nNothing blocks the move to {next}.");
    }
    let checks = &status.checks;
    if checks.total > 0 {
        let _ = writeln!(
            out,
            "\nChecks: {} healthy, {} failing, {} unknown (of {})",
            checks.healthy, checks.failing, checks.unknown, checks.total
        );
        for failing in &checks.failing_ids {
            let reason = failing.reason.as_deref().unwrap_or_default();
            let _ = writeln!(out, "  FAILING {}: {reason}", failing.id);
        }
    }
    let actions = &status.actions;
    let _ = writeln!(
        out,
        "\nAction items: {} open ({} overdue), {} done, {} dropped",
        actions.open, actions.overdue, actions.done, actions.dropped
    );
    for item in &actions.open_items {
        out.push_str(&action_line(item));
    }
    out
}

pub fn checklist_items(items: &[wire::ChecklistItem], zone: &TimeZone) -> String {
    let mut out = String::new();
    for item in items {
        let mark = if item.confirmed { "x" } else { " " };
        let required = if item.required { "" } else { " (optional)" };
        let _ = write!(
            out,
            "  [{mark}] {:<16} {}{required} — owner {}, gates {}",
            item.id, item.title, item.owner_label, item.gates,
        );
        if let Some(by) = &item.confirmed_by {
            let at = item
                .confirmed_at
                .map(|at| when(at, zone))
                .unwrap_or_default();
            let _ = write!(out, "; confirmed by {by} at {at}");
        }
        out.push('\n');
    }
    out
}

pub fn blocker_lines(blockers: &[wire::Blocker]) -> String {
    blockers
        .iter()
        .map(|blocker| format!("  - {}\n", blocker.message))
        .collect()
}

pub fn action_line(item: &wire::ActionItem) -> String {
    let due = item.due.map_or(String::new(), |due| format!(", due {due}"));
    let overdue = if item.overdue == Some(true) {
        " OVERDUE"
    } else {
        ""
    };
    format!(
        "  #{:<4} [{}{overdue}] {} — owner {}{due}\n",
        item.id, item.status, item.title, item.owner
    )
}

pub fn log_entry(entry: &wire::LogEntry, zone: &TimeZone) -> String {
    format!(
        "#{:<5} {}  {:<9} {:<12} {}\n",
        entry.id,
        when(entry.at, zone),
        entry.kind,
        entry.author,
        entry.text
    )
}

/// A table of checks: id, kind, health, latency, reason.
pub fn checks_table(checks: &[wire::CheckView]) -> String {
    if checks.is_empty() {
        return "The plan has no checks.\n".to_string();
    }
    let rows: Vec<[String; 5]> = checks
        .iter()
        .map(|check| {
            // Sub-millisecond answers read in µs, not as "0 ms".
            let latency = check
                .last
                .as_ref()
                .map(|last| last.latency_ms)
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map_or(String::new(), |ms| {
                    crate::human::latency(std::time::Duration::from_secs_f64(ms / 1_000.0))
                });
            let mut health = check.health.to_uppercase();
            if !check.active {
                health.push_str(" (paused)");
            }
            [
                check.id.clone(),
                check.kind.clone(),
                health,
                latency,
                check
                    .last
                    .as_ref()
                    .map(|last| last.reason.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&["CHECK", "KIND", "STATE", "LATENCY", "REASON"], &rows)
}

/// A table of alerts: id, severity, state, level, opened, title, reason.
pub fn alerts_table(alerts: &[wire::Alert], zone: &TimeZone) -> String {
    if alerts.is_empty() {
        return "No alerts.\n".to_string();
    }
    let rows: Vec<[String; 6]> = alerts
        .iter()
        .map(|alert| {
            let state = match (&alert.resolved_at, &alert.acknowledged) {
                (Some(_), _) => "resolved".to_string(),
                (None, Some(ack)) => format!("acked by {}", ack.by),
                (None, None) => "OPEN".to_string(),
            };
            [
                format!("#{}", alert.id),
                alert.severity.to_uppercase(),
                state,
                alert.level.to_string(),
                when(alert.opened_at, zone),
                format!("{}: {}", alert.title, alert.reason),
            ]
        })
        .collect();
    table(
        &["ALERT", "SEVERITY", "STATE", "LEVEL", "OPENED", "WHAT"],
        &rows,
    )
}

/// What `golive alerts` prints: the open alerts, or, when none is open, that none is and the
/// most recently resolved ones (`recent`, newest first), so "nothing open" is not read as
/// "nothing happened".
pub fn open_alerts(open: &[wire::Alert], recent: &[wire::Alert], zone: &TimeZone) -> String {
    if !open.is_empty() {
        return alerts_table(open, zone);
    }
    let resolved: Vec<wire::Alert> = recent
        .iter()
        .filter(|alert| alert.resolved_at.is_some())
        .cloned()
        .collect();
    if resolved.is_empty() {
        return "No open alerts; none has been raised.\n".to_string();
    }
    format!(
        "No open alerts.\n\nRecently resolved (all: golive alerts --all):\n{}",
        alerts_table(&resolved, zone)
    )
}

/// What `golive ack` did, from the answer of `POST /api/v1/alerts/ack`: who acknowledged which
/// alerts now, and which someone had acknowledged already, or that none was open (the ids that
/// are not open are said on standard error).
pub fn acknowledged(answer: &wire::Acknowledgements) -> String {
    let by = |alert: &wire::Alert| {
        alert
            .acknowledged
            .as_ref()
            .map(|ack| ack.by.clone())
            .unwrap_or_default()
    };
    if answer.acknowledged.is_empty() && answer.already_acknowledged.is_empty() {
        return "No alert acknowledged: none of them is open.\n".to_string();
    }
    let mut out = String::new();
    match answer.acknowledged.as_slice() {
        [] => {}
        [alert] => out.push_str(&format!(
            "Alert #{} acknowledged by {}; escalation stopped.\n",
            alert.id,
            by(alert)
        )),
        alerts => out.push_str(&format!(
            "{} alerts acknowledged by {} ({}); escalation stopped.\n",
            alerts.len(),
            by(&alerts[0]),
            alerts
                .iter()
                .map(|alert| format!("#{}", alert.id))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    for alert in &answer.already_acknowledged {
        out.push_str(&format!(
            "Alert #{} was acknowledged already by {}.\n",
            alert.id,
            by(alert)
        ));
    }
    out
}

/// The silences, one line each, active ones marked.
pub fn silences(silences: &[wire::Silence]) -> String {
    if silences.is_empty() {
        return "No silences.\n".to_string();
    }
    silences
        .iter()
        .map(|silence| {
            let active = if silence.active == Some(true) {
                "ACTIVE  "
            } else {
                "inactive"
            };
            format!(
                "{active} {} — {} (by {})\n",
                silence.id, silence.comment, silence.author
            )
        })
        .collect()
}

/// The channel tests as a table: channel, kind, result, the server's answer.
pub fn channel_tests(results: &[wire::ChannelTest]) -> String {
    let rows: Vec<[String; 4]> = results
        .iter()
        .map(|result| {
            [
                result.channel.clone(),
                result.kind.clone(),
                result.result.to_uppercase(),
                result.answer.clone(),
            ]
        })
        .collect();
    table(&["CHANNEL", "KIND", "RESULT", "ANSWER"], &rows)
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|title| title.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            if index + 1 == N {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[index]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: i64, by: &str) -> wire::Alert {
        let at = Timestamp::UNIX_EPOCH;
        wire::Alert {
            id,
            key: format!("check:{id}"),
            title: "Checkout".to_string(),
            severity: "critical".to_string(),
            policy: None,
            opened_at: at,
            reason: "HTTP 500".to_string(),
            level: 1,
            escalation_base: at,
            last_notified_at: None,
            acknowledged: Some(wire::Acknowledgement {
                by: by.to_string(),
                at,
                expires_at: None,
            }),
            resolved_at: None,
            notified: Default::default(),
            max_level: 1,
            labels: Default::default(),
        }
    }

    #[test]
    fn acknowledgements_say_who_took_which_alerts() {
        let one = wire::Acknowledgements {
            acknowledged: vec![alert(12, "Bob Berg")],
            ..Default::default()
        };
        assert_eq!(
            acknowledged(&one),
            "Alert #12 acknowledged by Bob Berg; escalation stopped.\n"
        );
        let storm = wire::Acknowledgements {
            acknowledged: vec![
                alert(1, "Bob Berg"),
                alert(2, "Bob Berg"),
                alert(3, "Bob Berg"),
            ],
            already_acknowledged: vec![alert(4, "Alice Adler")],
            not_open: vec![99],
        };
        assert_eq!(
            acknowledged(&storm),
            "3 alerts acknowledged by Bob Berg (#1, #2, #3); escalation stopped.\n\
             Alert #4 was acknowledged already by Alice Adler.\n"
        );
        let none_open = wire::Acknowledgements {
            not_open: vec![7],
            ..Default::default()
        };
        assert_eq!(
            acknowledged(&none_open),
            "No alert acknowledged: none of them is open.\n"
        );
    }
}
