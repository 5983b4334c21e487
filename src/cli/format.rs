//! Readable output for the CLI: the daemon's JSON turned into short lines a person scans.

use std::fmt::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The launch's time zone as an answer names it (`launch.timezone` or `timezone`); UTC when the
/// answer names none or an unknown one.
pub fn zone_of(answer: &Value) -> TimeZone {
    answer["launch"]["timezone"]
        .as_str()
        .or_else(|| answer["timezone"].as_str())
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC)
}

/// A time from the daemon's JSON as people read it, in the launch's zone with seconds and the
/// zone's abbreviation (`2026-11-30 20:45:06 CET`); text that is not a time is shown as it is.
pub fn when(value: &Value, zone: &TimeZone) -> String {
    match value.as_str() {
        Some(text) => match text.parse::<Timestamp>() {
            Ok(at) => crate::human::time(at, zone),
            Err(_) => text.to_string(),
        },
        None => String::new(),
    }
}

pub fn status(status: &Value) -> String {
    let mut out = String::new();
    let zone = zone_of(status);
    let launch = &status["launch"];
    let phase = text(status, "phase");
    let _ = writeln!(
        out,
        "{} — phase {} for {}",
        text(launch, "name"),
        phase.to_uppercase(),
        crate::human::seconds(status["time_in_phase_seconds"].as_i64().unwrap_or(0))
    );
    let go_live_in = status["go_live_in_seconds"].as_i64().unwrap_or(0);
    if go_live_in > 0 {
        let _ = writeln!(
            out,
            "Go-live in {} ({})",
            crate::human::seconds(go_live_in),
            when(&launch["go_live"], &zone)
        );
    } else {
        let _ = writeln!(
            out,
            "Go-live was planned {} ago ({})",
            crate::human::seconds(-go_live_in),
            when(&launch["go_live"], &zone)
        );
    }
    if status["hypercare_ends_at"].is_string() {
        let _ = writeln!(
            out,
            "Hypercare ends {}",
            when(&status["hypercare_ends_at"], &zone)
        );
    }
    let checklist = &status["checklist"];
    let _ = writeln!(
        out,
        "\nChecklist: {}/{} confirmed ({} of {} required)",
        checklist["confirmed"],
        checklist["total"],
        checklist["required_confirmed"],
        checklist["required"]
    );
    out.push_str(&checklist_items(
        checklist["items"].as_array().map_or(&[][..], Vec::as_slice),
        &zone,
    ));
    if let Some(blockers) = status["blockers"].as_array().filter(|b| !b.is_empty()) {
        let _ = writeln!(out, "\nBlocking the move out of {phase}:");
        out.push_str(&blocker_lines(blockers));
    } else if let Some(next) = status["next_phase"].as_str() {
        let _ = writeln!(out, "\nNothing blocks the move to {next}.");
    }
    let checks = &status["checks"];
    if checks["total"].as_u64().unwrap_or(0) > 0 {
        let _ = writeln!(
            out,
            "\nChecks: {} healthy, {} failing, {} unknown (of {})",
            checks["healthy"], checks["failing"], checks["unknown"], checks["total"]
        );
        for failing in checks["failing_ids"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  FAILING {}: {}",
                text(failing, "id"),
                text(failing, "reason")
            );
        }
    }
    let actions = &status["actions"];
    let _ = writeln!(
        out,
        "\nAction items: {} open ({} overdue), {} done, {} dropped",
        actions["open"], actions["overdue"], actions["done"], actions["dropped"]
    );
    for item in actions["open_items"].as_array().into_iter().flatten() {
        out.push_str(&action_line(item));
    }
    out
}

pub fn checklist_items(items: &[Value], zone: &TimeZone) -> String {
    let mut out = String::new();
    for item in items {
        let mark = if item["confirmed"].as_bool() == Some(true) {
            "x"
        } else {
            " "
        };
        let required = if item["required"].as_bool() == Some(true) {
            ""
        } else {
            " (optional)"
        };
        let _ = write!(
            out,
            "  [{mark}] {:<16} {}{} — owner {}, gates {}",
            text(item, "id"),
            text(item, "title"),
            required,
            text(item, "owner_label"),
            text(item, "gates"),
        );
        if let Some(by) = item["confirmed_by"].as_str() {
            let _ = write!(
                out,
                "; confirmed by {by} at {}",
                when(&item["confirmed_at"], zone)
            );
        }
        out.push('\n');
    }
    out
}

pub fn blocker_lines(blockers: &[Value]) -> String {
    blockers
        .iter()
        .map(|blocker| format!("  - {}\n", text(blocker, "message")))
        .collect()
}

pub fn action_line(item: &Value) -> String {
    let due = item["due"]
        .as_str()
        .map_or(String::new(), |due| format!(", due {due}"));
    let overdue = if item["overdue"].as_bool() == Some(true) {
        " OVERDUE"
    } else {
        ""
    };
    format!(
        "  #{:<4} [{}{}] {} — owner {}{}\n",
        item["id"],
        text(item, "status"),
        overdue,
        text(item, "title"),
        text(item, "owner"),
        due
    )
}

pub fn log_entry(entry: &Value, zone: &TimeZone) -> String {
    format!(
        "#{:<5} {}  {:<9} {:<12} {}\n",
        entry["id"],
        when(&entry["at"], zone),
        text(entry, "kind"),
        text(entry, "author"),
        text(entry, "text")
    )
}

/// A table of checks: id, kind, health, latency, reason.
pub fn checks_table(checks: &[Value]) -> String {
    if checks.is_empty() {
        return "The plan has no checks.\n".to_string();
    }
    let rows: Vec<[String; 5]> = checks
        .iter()
        .map(|check| {
            let last = &check["last"];
            // Sub-millisecond answers read in µs, not as "0 ms".
            let latency = last["latency_ms"]
                .as_f64()
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map_or(String::new(), |ms| {
                    crate::human::latency(std::time::Duration::from_secs_f64(ms / 1_000.0))
                });
            let mut health = text(check, "health").to_uppercase();
            if check["active"].as_bool() == Some(false) {
                health.push_str(" (paused)");
            }
            [
                text(check, "id").to_string(),
                text(check, "kind").to_string(),
                health,
                latency,
                text(last, "reason").to_string(),
            ]
        })
        .collect();
    table(&["CHECK", "KIND", "STATE", "LATENCY", "REASON"], &rows)
}

/// A table of alerts: id, severity, state, level, opened, title, reason.
pub fn alerts_table(alerts: &[Value], zone: &TimeZone) -> String {
    if alerts.is_empty() {
        return "No alerts.\n".to_string();
    }
    let rows: Vec<[String; 6]> = alerts
        .iter()
        .map(|alert| {
            let state = if !alert["resolved_at"].is_null() {
                "resolved".to_string()
            } else if let Some(by) = alert["acknowledged"]["by"].as_str() {
                format!("acked by {by}")
            } else {
                "OPEN".to_string()
            };
            [
                format!("#{}", alert["id"]),
                text(alert, "severity").to_uppercase(),
                state,
                alert["level"].to_string(),
                when(&alert["opened_at"], zone),
                format!("{}: {}", text(alert, "title"), text(alert, "reason")),
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
pub fn open_alerts(open: &[Value], recent: &[Value], zone: &TimeZone) -> String {
    if !open.is_empty() {
        return alerts_table(open, zone);
    }
    let resolved: Vec<Value> = recent
        .iter()
        .filter(|alert| !alert["resolved_at"].is_null())
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
/// alerts now, and which someone had acknowledged already (the ids that are not open are said
/// on standard error).
pub fn acknowledged(answer: &Value) -> String {
    let list = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
    let (now, before) = (list("acknowledged"), list("already_acknowledged"));
    let by = |alert: &Value| {
        alert["acknowledged"]["by"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let mut out = String::new();
    match now.as_slice() {
        [] => {}
        [alert] => out.push_str(&format!(
            "Alert #{} acknowledged by {}; escalation stopped.\n",
            alert["id"],
            by(alert)
        )),
        alerts => out.push_str(&format!(
            "{} alerts acknowledged by {} ({}); escalation stopped.\n",
            alerts.len(),
            by(&alerts[0]),
            alerts
                .iter()
                .map(|alert| format!("#{}", alert["id"]))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    for alert in &before {
        out.push_str(&format!(
            "Alert #{} was acknowledged already by {}.\n",
            alert["id"],
            by(alert)
        ));
    }
    out
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

    #[test]
    fn acknowledgements_say_who_took_which_alerts() {
        let alert = |id: i64, by: &str| serde_json::json!({"id": id, "acknowledged": {"by": by}});
        let one = serde_json::json!({"acknowledged": [alert(12, "Bob Berg")], "already_acknowledged": [], "not_open": []});
        assert_eq!(
            acknowledged(&one),
            "Alert #12 acknowledged by Bob Berg; escalation stopped.\n"
        );
        let storm = serde_json::json!({
            "acknowledged": [alert(1, "Bob Berg"), alert(2, "Bob Berg"), alert(3, "Bob Berg")],
            "already_acknowledged": [alert(4, "Alice Adler")],
            "not_open": [99],
        });
        assert_eq!(
            acknowledged(&storm),
            "3 alerts acknowledged by Bob Berg (#1, #2, #3); escalation stopped.\n\
             Alert #4 was acknowledged already by Alice Adler.\n"
        );
    }
}
