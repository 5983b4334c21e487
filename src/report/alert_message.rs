//! What an alert notification says: subject, plain text, HTML, the chat line and the JSON body.
//! Pure: everything it needs is passed in.
//!
//! The subject leads with the state (`CRITICAL`, `ESCALATED L2`, `REMINDER L3`, `REOPENED`,
//! `ACKNOWLEDGED by …`, `RESOLVED`) so a lock screen tells a new page from an all-clear; the
//! alert's name and the launch follow. Every message says, in this order: what failed (one value
//! fact, formatted for people), the launch, since when, the phase, what is probed, the linked
//! risks with their contingency (the cheap fix first), the rollback recommendation where the
//! criteria hold (complete), who was told and when the next level pages whom, and how to
//! acknowledge, with a link to the status page.
//!
//! Chat text follows Slack's `mrkdwn` escaping (`&`, `<`, `>`): untrusted text (names, reasons,
//! Alertmanager labels, acknowledgers and their notes) can carry no `<!channel>`, `<@U…>` or
//! disguised `<url|text>` link; only golive's own links are markup.

use std::fmt::Write;

use jiff::Timestamp;

use crate::core::alert::Alert;
use crate::core::message::{
    AcknowledgementFacts, AlertBody, AlertFacts, CheckFacts, GoliveBody, HowToAcknowledge,
    RiskFacts,
};
use crate::domain::Phase;
use crate::plan::Plan;
use crate::plan::checks::{Check, CheckKind, Severity};

pub use super::value::{ValueUnit, fails_when, number, value_unit, with_unit};

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
    /// Someone took it (sent to everyone already told), with what they said.
    Acknowledged { by: String, note: Option<String> },
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

/// The state word a subject leads with, for a message of `kind` (`kind` as in
/// [`MessageKind::as_str`]) at `level` about an alert of `severity`. A new page says its severity;
/// everything later says what happened, so nobody mistakes an all-clear for a page.
pub fn state_word(kind: &str, level: usize, severity: Severity) -> String {
    match kind {
        "escalated" => format!("ESCALATED L{level}"),
        "repeat" => format!("REMINDER L{level}"),
        "reopened" => "REOPENED".to_string(),
        "acknowledged" => "ACKNOWLEDGED".to_string(),
        "resolved" => "RESOLVED".to_string(),
        _ => severity.as_str().to_uppercase(),
    }
}

/// A metric check's value: now, at the alert's opening and the worst while it was open, where
/// golive saw them (the last two are kept in memory only, so not across a restart).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ValueFacts {
    pub now: Option<f64>,
    pub at_opening: Option<f64>,
    /// The worst value seen while the alert was open.
    pub worst: Option<f64>,
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
    /// The metric check's value (none for other checks and external alerts).
    pub value: ValueFacts,
    /// golive's address as people reach it (`alerting.public_url` or the listen address).
    pub public_url: &'a str,
    /// When the next level pages whom, e.g. `level 2 (Maria Keller) at 21:05:00`, while it will.
    pub next_level: Option<String>,
    /// The runbook steps in progress, e.g. `` `deploy-app` Deploy 2.0, started 21:00:00 by Jonas
    /// Weber``: what may have caused it, or what it interrupts.
    pub steps_running: Vec<String>,
}

/// A rendered message in every form the channels need.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// One compact message for chat (`{"text": ...}`), escaped for Slack's `mrkdwn`.
    pub chat: String,
    /// The alert as JSON (the `golive` webhook format).
    pub json: GoliveBody,
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

/// Escapes untrusted text for a Slack (or Mattermost) `mrkdwn` message: `&`, `<` and `>` become
/// entities, so `<!channel>`, `<@U123>` and `<https://evil|bank>` arrive as plain text. Slack
/// asks for exactly these three (<https://api.slack.com/reference/surfaces/formatting#escaping>).
pub fn chat_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// A link of golive's own in a chat message: `<url|label>`, the label escaped (the URL is
/// golive's, and `|`/`>` cannot occur in it unescaped).
pub fn chat_link(url: &str, label: &str) -> String {
    let url = url.replace('>', "%3E").replace('|', "%7C");
    format!("<{url}|{}>", chat_escape(label).replace('|', "/"))
}

/// A URL as a message may show it: no credentials, no query string, no fragment (either may carry
/// a token).
pub fn without_secrets(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(host_end);
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

/// What a check probes, for people: the URL (without secrets), the query, the address.
pub fn probed(check: &Check) -> String {
    match &check.kind {
        CheckKind::Http(http) => format!("{} {}", http.method, without_secrets(&http.url)),
        CheckKind::Prometheus(query) => {
            format!("query `{}` on `{}`", one_line(&query.query), query.server)
        }
        CheckKind::Scrape(scrape) => format!(
            "`{}` from {}",
            scrape.series.metric,
            without_secrets(&scrape.url)
        ),
        CheckKind::Tcp(tcp) => format!("TCP connect to {}", tcp.address),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The one value fact of a metric check: at opening against the threshold, the worst since when
/// it was worse, and now when it differs (`20.2 % at opening (fails above 5 %); worst 31 %; now
/// 0.4%`).
fn value_fact(check: &Check, kind: &MessageKind, value: ValueFacts) -> Option<String> {
    let threshold = check.threshold()?;
    let unit = value_unit(check);
    let rule = fails_when(threshold, unit);
    let shown = |v: f64| with_unit(v, unit);
    if let (MessageKind::Opened, Some(now)) = (kind, value.now) {
        return Some(format!("{} ({rule})", shown(now)));
    }
    let mut fact = match (value.at_opening, value.now) {
        (Some(opening), _) => format!("{} at opening ({rule})", shown(opening)),
        (None, Some(now)) => return Some(format!("{} now ({rule})", shown(now))),
        (None, None) => return None,
    };
    let opening = value.at_opening.map(shown);
    let now = value.now.map(shown);
    if let Some(worst) = value.worst.map(shown)
        && Some(&worst) != opening.as_ref()
        && Some(&worst) != now.as_ref()
    {
        let _ = write!(fact, "; worst {worst}");
    }
    if let Some(now) = now
        && Some(&now) != opening.as_ref()
    {
        let _ = write!(fact, "; now {now}");
    }
    Some(fact)
}

/// What every subject about an alert says after its state: the alert and the launch. It is the
/// same in every message of the alert, so clients that group by subject keep them together
/// (Gmail compares the subject without a leading `[...]` tag; see docs/alerting.md, "Alerts and
/// escalation").
pub fn subject_core(alert: &Alert, launch: &str) -> String {
    format!("{} — {launch}", one_line(&alert.title))
}

/// The subject: the state in brackets, then the stable core (`[RESOLVED] Checkout error rate —
/// Web shop 2.0`).
fn subject(context: &MessageContext<'_>) -> String {
    let alert = context.alert;
    format!(
        "[{}] {}",
        state_word(context.kind.as_str(), context.level, alert.severity),
        subject_core(alert, &context.plan.launch.name)
    )
}

/// The colour of the bar on top of an HTML part, for a message of `kind` (as in
/// [`MessageKind::as_str`]): green resolved, blue acknowledged, else by severity.
pub fn colour(kind: &str, severity: Severity) -> &'static str {
    match (kind, severity) {
        ("resolved", _) => "#1a7f37",
        ("acknowledged", _) => "#0b5cad",
        (_, Severity::Critical) => "#b00020",
        (_, Severity::Warning) => "#9a6700",
        _ => "#57606a",
    }
}

/// Where people see the alert: its row on the status page while it is open; once resolved (the
/// row is gone) its check's row, or for an alert without a check its record in the API.
fn status_link(public_url: &str, alert: &Alert, kind: &MessageKind) -> String {
    match (kind, alert.check_id()) {
        (MessageKind::Resolved, Some(check)) => format!("{public_url}/#check-{check}"),
        (MessageKind::Resolved, None) => format!("{public_url}/api/v1/alerts/{}", alert.id),
        _ => format!("{public_url}/#alert-{}", alert.id),
    }
}

/// The risks an alert means have materialised, in plan order: for a check's alert the risks
/// linked to the check (either side of the link); for an alert from Alertmanager those whose
/// `alertmanager` matchers its labels match. Resolved from the plan when a message is rendered,
/// so both kinds follow the plan the daemon runs with.
pub fn linked_risks<'p>(plan: &'p Plan, alert: &Alert) -> Vec<&'p crate::plan::Risk> {
    match alert.check_id() {
        Some(check_id) => {
            let check_risks = plan
                .checks
                .iter()
                .find(|check| check.id == check_id)
                .map(|check| check.risks.as_slice())
                .unwrap_or_default();
            plan.risks
                .iter()
                .filter(|risk| {
                    check_risks.contains(&risk.id) || risk.checks.iter().any(|id| id == check_id)
                })
                .collect()
        }
        None if alert.labels.is_empty() => Vec::new(),
        None => plan
            .risks
            .iter()
            .filter(|risk| risk.matches_alertmanager(&alert.labels))
            .collect(),
    }
}

/// Renders one notification.
pub fn render(context: &MessageContext<'_>) -> Rendered {
    let plan = context.plan;
    let alert = context.alert;
    let check = alert
        .check_id()
        .and_then(|id| plan.checks.iter().find(|check| check.id == id));
    let risks = linked_risks(plan, alert);
    let headline = headline(context);
    let subject = subject(context);
    let open = !matches!(
        context.kind,
        MessageKind::Resolved | MessageKind::Acknowledged { .. }
    );
    let status_url = status_link(context.public_url, alert, &context.kind);
    let what_failed = check
        .and_then(|check| value_fact(check, &context.kind, context.value))
        .unwrap_or_else(|| one_line(&alert.reason));
    let note = match &context.kind {
        MessageKind::Acknowledged {
            note: Some(note), ..
        } if !note.trim().is_empty() => Some(note.trim().to_string()),
        _ => None,
    };
    let facts = facts(context, check, &what_failed, &status_url, &note, open);
    let ack_cli = format!("golive ack {}", alert.id);
    let text = render_text(context, &headline, &facts, &risks, open, &ack_cli);
    let html = render_html(context, &headline, &what_failed, &facts, &risks, open);
    let chat = render_chat(context, &subject, &what_failed, &risks, open, &note);
    let json = render_json(context, check, &risks, open, &note, &status_url, &ack_cli);
    Rendered {
        subject,
        text,
        html,
        chat,
        json,
    }
}

/// The first line of the text and the HTML heading: what happened to the alert.
fn headline(context: &MessageContext<'_>) -> String {
    let alert = context.alert;
    match &context.kind {
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
        MessageKind::Acknowledged { by, .. } => format!("{} acknowledged by {by}", alert.title),
        MessageKind::Resolved => format!("RESOLVED: {}", alert.title),
    }
}

/// The facts, as (label, value) lines shared by text and HTML, the most urgent first.
fn facts(
    context: &MessageContext<'_>,
    check: Option<&Check>,
    what_failed: &str,
    status_url: &str,
    note: &Option<String>,
    open: bool,
) -> Vec<(&'static str, String)> {
    let alert = context.alert;
    let tz = &context.plan.launch.timezone;
    let launch = &context.plan.launch.name;
    let since = format!(
        "{} ({} before this message)",
        crate::human::time(alert.opened_at, tz),
        crate::human::elapsed(alert.opened_at, context.now)
    );
    let mut facts: Vec<(&'static str, String)> = Vec::new();
    facts.push(("What failed", what_failed.to_string()));
    facts.push(("Launch", format!("{launch}, phase {}", context.phase)));
    facts.push(("Since", since));
    if open && !context.steps_running.is_empty() {
        facts.push(("Runbook", context.steps_running.join("; ")));
    }
    match &context.kind {
        MessageKind::Resolved => {
            let end = alert.resolved_at.unwrap_or(context.now);
            facts.push((
                "Resolved",
                format!(
                    "{}, after {}",
                    crate::human::time(end, tz),
                    crate::human::elapsed(alert.opened_at, end)
                ),
            ));
            match &alert.acknowledged {
                Some(ack) => facts.push((
                    "Acknowledged",
                    format!(
                        "by {} after {}",
                        ack.by,
                        crate::human::elapsed(alert.opened_at, ack.at)
                    ),
                )),
                None => facts.push(("Acknowledged", "never".to_string())),
            }
        }
        MessageKind::Acknowledged { by, .. } => {
            facts.push((
                "Taken by",
                format!(
                    "{by}, {} after it opened",
                    crate::human::elapsed(alert.opened_at, context.now)
                ),
            ));
            if let Some(note) = note {
                facts.push(("Their note", note.clone()));
            }
        }
        _ => {}
    }
    if let Some(check) = check {
        facts.push((
            "Check",
            format!("{} (`{}`): {}", check.name, check.id, probed(check)),
        ));
    }
    facts.push((
        "Alert",
        format!("#{}, severity {}", alert.id, alert.severity),
    ));
    if open {
        facts.push(("Level", context.level.to_string()));
    }
    if !context.recipients.is_empty() {
        facts.push(("Told now", context.recipients.join(", ")));
    }
    if !context.others.is_empty() {
        facts.push(("Also told", context.others.join(", ")));
    }
    if let (true, Some(next)) = (open, &context.next_level) {
        facts.push(("Next", format!("{next}, unless acknowledged")));
    }
    facts.push(("Status page", status_url.to_string()));
    facts
}

/// The plain-text part: the headline, the facts, and for an open alert what to do about it.
fn render_text(
    context: &MessageContext<'_>,
    headline: &str,
    facts: &[(&str, String)],
    risks: &[&crate::plan::Risk],
    open: bool,
    ack_cli: &str,
) -> String {
    let alert = context.alert;
    let mut text = String::new();
    let _ = writeln!(text, "{headline}\n");
    for (label, value) in facts {
        let _ = writeln!(text, "{label}: {value}");
    }
    if open {
        for risk in risks {
            let _ = writeln!(
                text,
                "\nContingency (risk `{}`: {}, likelihood {}, impact {}):\n{}",
                risk.id,
                risk.title,
                risk.likelihood.as_str(),
                risk.impact.as_str(),
                risk.contingency
            );
        }
        if let Some(procedure) = context.rollback {
            let _ = writeln!(
                text,
                "\nROLLBACK RECOMMENDED (the plan's rollback criteria hold{}).\nProcedure:\n{}",
                if risks.is_empty() {
                    ""
                } else {
                    "; try the contingency above first if it is quicker"
                },
                procedure.trim_end()
            );
        }
        let _ = writeln!(text, "\nTo acknowledge (stops escalation):");
        if let Some(url) = &context.ack_url {
            let _ = writeln!(text, "- open {url} and press the button");
        }
        let _ = writeln!(text, "- run `{ack_cli}`");
        let _ = writeln!(text, "- or POST /api/v1/alerts/{}/ack", alert.id);
    }
    text
}

/// The JSON body of a golive-format webhook: the alert, its check and value, and what to do.
fn render_json(
    context: &MessageContext<'_>,
    check: Option<&Check>,
    risks: &[&crate::plan::Risk],
    open: bool,
    note: &Option<String>,
    status_url: &str,
    ack_cli: &str,
) -> GoliveBody {
    let alert = context.alert;
    GoliveBody::Alert(Box::new(AlertBody {
        kind: context.kind.as_str().to_string(),
        launch: context.plan.launch.name.clone(),
        alert: AlertFacts {
            id: alert.id,
            key: alert.key.clone(),
            title: alert.title.clone(),
            severity: alert.severity,
            reason: alert.reason.clone(),
            opened_at: alert.opened_at,
            acknowledged: alert.acknowledged.as_ref().map(|ack| AcknowledgementFacts {
                by: ack.by.clone(),
                at: ack.at,
                expires_at: ack.expires_at,
            }),
            resolved_at: alert.resolved_at,
        },
        check: check.map(|check| CheckFacts {
            id: check.id.clone(),
            name: check.name.clone(),
            kind: check.kind_name().to_string(),
            probes: probed(check),
        }),
        value: check.and_then(|check| value_fact(check, &context.kind, context.value)),
        value_now: context.value.now,
        value_at_opening: context.value.at_opening,
        phase: context.phase,
        level: context.level,
        risks: risks
            .iter()
            .map(|risk| RiskFacts {
                id: risk.id.clone(),
                title: risk.title.clone(),
                contingency: risk.contingency.clone(),
            })
            .collect(),
        rollback_recommended: open && context.rollback.is_some(),
        rollback_procedure: context.rollback.filter(|_| open).map(str::to_string),
        recipients: context.recipients.clone(),
        also_told: context.others.clone(),
        next_level: context.next_level.clone().filter(|_| open),
        steps_running: context.steps_running.clone(),
        note: note.clone(),
        status_url: status_url.to_string(),
        acknowledge: HowToAcknowledge {
            cli: ack_cli.to_string(),
            api: format!("/api/v1/alerts/{}/ack", alert.id),
        },
        sent_at: context.now,
    }))
}

/// The HTML part: a coloured bar with the state, a preheader (the line inbox lists show after the
/// subject), the facts, contingency, rollback and the acknowledgement link.
fn render_html(
    context: &MessageContext<'_>,
    headline: &str,
    what_failed: &str,
    facts: &[(&str, String)],
    risks: &[&crate::plan::Risk],
    open: bool,
) -> String {
    let alert = context.alert;
    let colour = colour(context.kind.as_str(), alert.severity);
    let state = state_word(context.kind.as_str(), context.level, alert.severity);
    let preheader = if open {
        format!(
            "{what_failed} — since {}. Acknowledge to stop the escalation.",
            crate::human::time(alert.opened_at, &context.plan.launch.timezone)
        )
    } else {
        format!("{headline}. {what_failed}.")
    };
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body style=\"margin:0;font-family:sans-serif;color:#1a1a1a\">\
<div style=\"display:none;max-height:0;overflow:hidden\">{}</div>\
<div style=\"max-width:640px;padding:12px\">\
<p style=\"margin:0 0 8px;padding:6px 10px;background:{colour};color:#ffffff;font-weight:bold;letter-spacing:0.05em\">{}</p>\
<h2 style=\"margin:0 0 12px\">{}</h2><table cellpadding=\"4\" style=\"border-collapse:collapse\">",
        escape(&preheader),
        escape(&state),
        escape(headline)
    );
    for (label, value) in facts {
        let value = if *label == "Status page" {
            format!("<a href=\"{0}\">{0}</a>", escape(value))
        } else {
            escape(value)
        };
        let _ = write!(
            html,
            "<tr><th align=\"left\" valign=\"top\" style=\"padding-right:12px\">{}</th><td style=\"overflow-wrap:anywhere\">{value}</td></tr>",
            escape(label),
        );
    }
    html.push_str("</table>");
    if open {
        for risk in risks {
            let _ = write!(
                html,
                "<h3>Contingency: {}</h3><p>{}</p><p style=\"color:#57606a\">Risk <code>{}</code>, likelihood {}, impact {}.</p>",
                escape(&risk.title),
                escape(&risk.contingency),
                escape(&risk.id),
                risk.likelihood.as_str(),
                risk.impact.as_str(),
            );
        }
        if let Some(procedure) = context.rollback {
            let _ = write!(
                html,
                "<h3 style=\"color:#b00020\">Rollback recommended</h3><p>The plan's rollback criteria hold{}.</p><pre style=\"white-space:pre-wrap\">{}</pre>",
                if risks.is_empty() {
                    ""
                } else {
                    "; try the contingency above first if it is quicker"
                },
                escape(procedure.trim_end())
            );
        }
        html.push_str("<h3>Acknowledge</h3><p>Acknowledging stops the escalation and tells everyone already notified.</p><ul>");
        if let Some(url) = &context.ack_url {
            let _ = write!(
                html,
                "<li><a href=\"{}\" style=\"font-weight:bold\">Acknowledge this alert</a> (opens a confirmation page)</li>",
                escape(url)
            );
        }
        let _ = write!(
            html,
            "<li>CLI: <code>golive ack {}</code></li></ul>",
            alert.id
        );
    }
    html.push_str("</div></body></html>");
    html
}

/// The chat message: complete (nothing is cut), untrusted text escaped, golive's own link as markup.
fn render_chat(
    context: &MessageContext<'_>,
    subject: &str,
    what_failed: &str,
    risks: &[&crate::plan::Risk],
    open: bool,
    note: &Option<String>,
) -> String {
    let alert = context.alert;
    let tz = &context.plan.launch.timezone;
    let mut chat = format!("*{}*\n{}", chat_escape(subject), chat_escape(what_failed));
    let _ = write!(
        chat,
        "\nPhase {}, since {}",
        context.phase,
        crate::human::time(alert.opened_at, tz)
    );
    match &context.kind {
        MessageKind::Resolved => {
            let end = alert.resolved_at.unwrap_or(context.now);
            let _ = write!(
                chat,
                ", lasted {}",
                crate::human::elapsed(alert.opened_at, end)
            );
        }
        MessageKind::Acknowledged { .. } => {
            if let Some(note) = note {
                let _ = write!(chat, "\nNote: {}", chat_escape(note));
            }
        }
        _ => {
            let _ = write!(chat, ", level {}", context.level);
        }
    }
    if open {
        for risk in risks {
            let _ = write!(
                chat,
                "\nContingency ({}): {}",
                chat_escape(&risk.title),
                chat_escape(&risk.contingency)
            );
        }
        if let Some(procedure) = context.rollback {
            let _ = write!(
                chat,
                "\n:warning: Rollback recommended. Procedure:\n{}",
                chat_escape(procedure.trim_end())
            );
        }
        if let Some(next) = &context.next_level {
            let _ = write!(chat, "\nNext: {}", chat_escape(next));
        }
        let _ = write!(chat, "\nAck: `golive ack {}`", alert.id);
    }
    let _ = write!(
        chat,
        "\n{}",
        chat_link(
            &status_link(context.public_url, alert, &context.kind),
            &if context.kind == MessageKind::Resolved {
                format!("Alert #{}: its check on the status page", alert.id)
            } else {
                format!("Alert #{} on the status page", alert.id)
            }
        )
    );
    if !context.recipients.is_empty() {
        let _ = write!(chat, "\ncc {}", chat_escape(&context.recipients.join(", ")));
    }
    chat
}

/// The rollback recommendation sent when an alert meets the plan's rollback criteria: subject and
/// text. The risk's contingency comes first (often the cheaper fix), then the procedure, complete,
/// then how to record the decision and how to acknowledge the alert.
pub fn rollback_recommendation(
    plan: &Plan,
    alert: &Alert,
    phase: Phase,
    procedure: &str,
    value: ValueFacts,
    public_url: &str,
    ack_url: Option<&str>,
) -> (String, String) {
    let check = alert
        .check_id()
        .and_then(|id| plan.checks.iter().find(|check| check.id == id));
    let what_failed = check
        .and_then(|check| value_fact(check, &MessageKind::Opened, value))
        .unwrap_or_else(|| one_line(&alert.reason));
    let subject = format!(
        "[ROLLBACK RECOMMENDED] {}",
        subject_core(alert, &plan.launch.name)
    );
    let mut text = format!(
        "The plan's rollback criteria hold: {} ({}) is failing in phase {phase}.\n\nWhat failed: {what_failed}\nLaunch: {}\nSince: {}\nStatus page: {public_url}/#alert-{}\n",
        alert.title,
        alert.severity,
        plan.launch.name,
        crate::human::time(alert.opened_at, &plan.launch.timezone),
        alert.id
    );
    let risks = linked_risks(plan, alert);
    for risk in &risks {
        let _ = write!(
            text,
            "\nFirst, the contingency (risk `{}`: {}):\n{}\n",
            risk.id, risk.title, risk.contingency
        );
    }
    let _ = write!(
        text,
        "\n{}:\n{}\n\nTo record the decision and run the rollback hook: golive rollback --reason \"...\"\n",
        if risks.is_empty() {
            "Rollback procedure"
        } else {
            "If the contingency does not help, or would take longer, roll back. Procedure"
        },
        procedure.trim_end()
    );
    let _ = write!(
        text,
        "\nTo acknowledge alert #{} (stops its escalation; the rollback stays a decision of its own):\n",
        alert.id
    );
    if let Some(url) = ack_url {
        let _ = writeln!(text, "- open {url} and press the button");
    }
    let _ = writeln!(text, "- or run `golive ack {}`", alert.id);
    (subject, text)
}

#[cfg(test)]
#[path = "alert_message_tests.rs"]
mod tests;
