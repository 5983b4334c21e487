//! What an alert notification says: subject, plain text, HTML, the chat line and the JSON body.
//! Pure: everything it needs is passed in.
//!
//! Every message says what failed (check, reason, value against threshold), since when, the phase,
//! the linked risks with their contingency plans, the rollback recommendation where the criteria
//! hold, the escalation level and who else was told, and how to acknowledge.

use std::fmt::Write;

use jiff::Timestamp;
use serde_json::json;

use super::timeline::local;
use crate::core::alert::Alert;
use crate::domain::Phase;
use crate::plan::Plan;

/// Why the message is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// Level 1 of a new alert.
    Opened,
    /// A later level.
    Escalated,
    /// The last level again.
    Repeat,
    /// An acknowledgement lapsed and the alert is still open.
    Reopened { lapsed_by: String },
    /// Someone took it (sent to everyone already told).
    Acknowledged { by: String },
    /// It is over (sent to everyone told).
    Resolved,
}

impl MessageKind {
    /// The outbox kind, typed.
    pub fn outbox_kind(&self) -> crate::core::message::OutboxKind {
        use crate::core::message::OutboxKind;
        match self {
            MessageKind::Opened => OutboxKind::Opened,
            MessageKind::Escalated => OutboxKind::Escalated,
            MessageKind::Repeat => OutboxKind::Repeat,
            MessageKind::Reopened { .. } => OutboxKind::Reopened,
            MessageKind::Acknowledged { .. } => OutboxKind::Acknowledged,
            MessageKind::Resolved => OutboxKind::Resolved,
        }
    }

    /// The outbox kind.
    pub fn as_str(&self) -> &'static str {
        match self {
            MessageKind::Opened => "opened",
            MessageKind::Escalated => "escalated",
            MessageKind::Repeat => "repeat",
            MessageKind::Reopened { .. } => "reopened",
            MessageKind::Acknowledged { .. } => "acknowledged",
            MessageKind::Resolved => "resolved",
        }
    }
}

/// Everything a message needs.
pub struct MessageContext<'a> {
    pub plan: &'a Plan,
    pub alert: &'a Alert,
    pub kind: MessageKind,
    /// The level notified now (1-based), or the alert's current level for acks and resolutions.
    pub level: usize,
    pub phase: Phase,
    pub now: Timestamp,
    /// Names of the people told by this message.
    pub recipients: Vec<String>,
    /// Names of the people told before.
    pub others: Vec<String>,
    /// The one-click acknowledgement link (email only).
    pub ack_url: Option<String>,
    /// The rollback procedure, when the rollback criteria hold.
    pub rollback: Option<&'a str>,
    /// The latest value against the threshold, for metric checks (e.g. `value 0.071 > 0.05`).
    pub value_line: Option<String>,
}

/// A rendered message in every form the channels need.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// One compact message for chat (`{"text": ...}`).
    pub chat: String,
    /// The alert as JSON (the `golive` webhook format).
    pub json: serde_json::Value,
}

/// How long from `from` to `to`, e.g. `45s`, `2m 10s`, `3h 05m`.
pub(crate) fn minutes(from: Timestamp, to: Timestamp) -> String {
    let seconds = to.duration_since(from).as_secs().max(0);
    if seconds < 60 {
        format!("{seconds}s")
    } else if seconds < 3600 {
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{}h {:02}m", seconds / 3600, seconds % 3600 / 60)
    }
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders one notification.
pub fn render(context: &MessageContext<'_>) -> Rendered {
    let plan = context.plan;
    let alert = context.alert;
    let tz = &plan.launch.timezone;
    let severity = alert.severity.as_str().to_uppercase();
    let check = alert
        .check_id()
        .and_then(|id| plan.checks.iter().find(|check| check.id == id));
    let risks: Vec<&crate::plan::Risk> = check
        .map(|check| {
            plan.risks
                .iter()
                .filter(|risk| check.risks.contains(&risk.id) || risk.checks.contains(&check.id))
                .collect()
        })
        .unwrap_or_default();
    let headline = match &context.kind {
        MessageKind::Opened => format!("{} is failing", alert.title),
        MessageKind::Escalated => format!(
            "{} is failing — escalated to level {}",
            alert.title, context.level
        ),
        MessageKind::Repeat => format!(
            "{} is still failing — reminder (level {})",
            alert.title, context.level
        ),
        MessageKind::Reopened { lapsed_by } => format!(
            "{} is still failing — {lapsed_by}'s acknowledgement lapsed",
            alert.title
        ),
        MessageKind::Acknowledged { by } => format!("{} acknowledged by {by}", alert.title),
        MessageKind::Resolved => format!("RESOLVED: {}", alert.title),
    };
    let subject = format!("[{severity}] {}: {headline}", plan.launch.name);

    // The facts, as (label, value) lines shared by text and HTML.
    let mut facts: Vec<(&str, String)> = Vec::new();
    facts.push(("Alert", format!("#{} ({})", alert.id, alert.key)));
    if let Some(check) = check {
        facts.push((
            "Check",
            format!("{} (`{}`, {})", check.name, check.id, check.kind_name()),
        ));
    }
    facts.push(("What failed", alert.reason.clone()));
    if let Some(value) = &context.value_line {
        facts.push(("Value", value.clone()));
    }
    facts.push((
        "Since",
        format!(
            "{} ({} ago)",
            local(alert.opened_at, tz),
            minutes(alert.opened_at, context.now)
        ),
    ));
    facts.push(("Phase", context.phase.to_string()));
    facts.push(("Severity", alert.severity.to_string()));
    match &context.kind {
        MessageKind::Resolved => {
            let end = alert.resolved_at.unwrap_or(context.now);
            facts.push((
                "Resolved",
                format!("{} after {}", local(end, tz), minutes(alert.opened_at, end)),
            ));
            match &alert.acknowledged {
                Some(ack) => facts.push((
                    "Acknowledged",
                    format!("by {} after {}", ack.by, minutes(alert.opened_at, ack.at)),
                )),
                None => facts.push(("Acknowledged", "never".to_string())),
            }
        }
        MessageKind::Acknowledged { by } => {
            facts.push((
                "Taken by",
                format!(
                    "{by}, {} after it opened",
                    minutes(alert.opened_at, context.now)
                ),
            ));
        }
        _ => {
            facts.push(("Escalation level", context.level.to_string()));
        }
    }
    if !context.recipients.is_empty() {
        facts.push(("Told now", context.recipients.join(", ")));
    }
    if !context.others.is_empty() {
        facts.push(("Also told", context.others.join(", ")));
    }

    let open = !matches!(
        context.kind,
        MessageKind::Resolved | MessageKind::Acknowledged { .. }
    );
    let ack_cli = format!("golive ack {}", alert.id);
    let mut text = String::new();
    let _ = writeln!(text, "{headline}\n");
    for (label, value) in &facts {
        let _ = writeln!(text, "{label}: {value}");
    }
    if let (true, Some(procedure)) = (open, context.rollback) {
        let _ = writeln!(
            text,
            "\nROLLBACK RECOMMENDED (the plan's rollback criteria hold).\nProcedure:\n{procedure}"
        );
    }
    for risk in &risks {
        let _ = writeln!(
            text,
            "\nRisk `{}`: {} (likelihood {}, impact {})\nContingency: {}",
            risk.id,
            risk.title,
            risk.likelihood.as_str(),
            risk.impact.as_str(),
            risk.contingency
        );
    }
    if open {
        let _ = writeln!(text, "\nTo acknowledge (stops escalation):");
        if let Some(url) = &context.ack_url {
            let _ = writeln!(text, "- open {url} and press the button");
        }
        let _ = writeln!(text, "- run `{ack_cli}`");
        let _ = writeln!(text, "- or POST /api/v1/alerts/{}/ack", alert.id);
    }

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif;color:#1a1a1a\"><h2 style=\"margin:0 0 12px\">{}</h2><table cellpadding=\"4\" style=\"border-collapse:collapse\">",
        escape(&headline)
    );
    for (label, value) in &facts {
        let _ = write!(
            html,
            "<tr><th align=\"left\" style=\"padding-right:12px\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        );
    }
    html.push_str("</table>");
    if let (true, Some(procedure)) = (open, context.rollback) {
        let _ = write!(
            html,
            "<h3 style=\"color:#a00000\">Rollback recommended</h3><p>The plan's rollback criteria hold.</p><pre style=\"white-space:pre-wrap\">{}</pre>",
            escape(procedure)
        );
    }
    for risk in &risks {
        let _ = write!(
            html,
            "<h3>Risk: {}</h3><p>Likelihood {}, impact {}.</p><p><strong>Contingency:</strong> {}</p>",
            escape(&risk.title),
            risk.likelihood.as_str(),
            risk.impact.as_str(),
            escape(&risk.contingency)
        );
    }
    if open {
        html.push_str("<h3>Acknowledge</h3><p>Acknowledging stops the escalation and tells everyone already notified.</p><ul>");
        if let Some(url) = &context.ack_url {
            let _ = write!(
                html,
                "<li><a href=\"{}\">Acknowledge this alert</a> (opens a confirmation page)</li>",
                escape(url)
            );
        }
        let _ = write!(html, "<li>CLI: <code>{}</code></li></ul>", escape(&ack_cli));
    }
    html.push_str("</body></html>");

    let mut chat = format!(
        "*[{severity}] {}*: {headline}\n{}",
        plan.launch.name, alert.reason
    );
    if let Some(value) = &context.value_line {
        let _ = write!(chat, " ({value})");
    }
    let _ = write!(
        chat,
        "\nPhase {}, since {}",
        context.phase,
        local(alert.opened_at, tz)
    );
    if open {
        let _ = write!(chat, ", level {}", context.level);
        if let (Some(_), Some(procedure)) = (context.rollback, context.rollback) {
            let _ = write!(
                chat,
                "\n:warning: Rollback recommended: {}",
                procedure.lines().next().unwrap_or("")
            );
        }
        for risk in &risks {
            let _ = write!(chat, "\nRisk {}: {}", risk.title, risk.contingency);
        }
        let _ = write!(chat, "\nAck: `{ack_cli}`");
    }
    if !context.recipients.is_empty() {
        let _ = write!(chat, "\ncc {}", context.recipients.join(", "));
    }

    let json = json!({
        "launch": plan.launch.name,
        "kind": context.kind.as_str(),
        "alert": {
            "id": alert.id,
            "key": alert.key,
            "title": alert.title,
            "severity": alert.severity,
            "reason": alert.reason,
            "opened_at": alert.opened_at,
            "acknowledged": alert.acknowledged,
            "resolved_at": alert.resolved_at,
        },
        "check": check.map(|check| json!({"id": check.id, "name": check.name, "kind": check.kind_name()})),
        "value": context.value_line,
        "phase": context.phase,
        "level": context.level,
        "risks": risks.iter().map(|risk| json!({"id": risk.id, "title": risk.title, "contingency": risk.contingency})).collect::<Vec<_>>(),
        "rollback_recommended": open && context.rollback.is_some(),
        "rollback_procedure": context.rollback.filter(|_| open),
        "recipients": context.recipients,
        "also_told": context.others,
        "acknowledge": {"cli": ack_cli, "api": format!("/api/v1/alerts/{}/ack", alert.id)},
        "sent_at": context.now,
    });
    Rendered {
        subject,
        text,
        html,
        chat,
        json,
    }
}
