//! What a grouped notification says: when several alerts of one burst reach a person together
//! (a storm opening, resolving or being acknowledged), they get one short message — a header such
//! as "12 alerts resolved — Web shop 2.0", one line per alert (state, check, what failed, since
//! when or how long) with its details one click away, and for open alerts ONE link that
//! acknowledges them all — instead of a full message per alert. Pure: everything it needs is
//! passed in.
//!
//! The engine renders each alert's [`GroupLine`] when it writes the notification (it knows the
//! plan, the time zone and the public URL) and stores it, with the group's acknowledge-all link,
//! as a [`GroupItem`] next to the full message; the dispatcher, which merges the rows of one group
//! when they are due, renders the group with [`render`].

use std::fmt::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::alert_message::{MessageKind, chat_escape, colour, escape, state_word};
use crate::core::alert::Alert;
use crate::plan::checks::Severity;

/// The most alerts listed one by one in a message; the rest are counted (the status page and
/// `golive alerts` list them all).
pub const MAX_LINES: usize = 100;
/// The longest "what failed" kept on an alert's line (the details link has it all).
const REASON_MAX: usize = 100;

// The pieces a notification carries for its group are plain data kept in the outbox, so they
// live in `core::message`, below the store.
pub use crate::core::message::{AckAll, GroupItem, GroupLine};

/// A grouped message in every form the channels need.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedGroup {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub chat: String,
}

/// An alert's line, as the engine writes it with the notification.
pub fn line(
    alert: &Alert,
    kind: &MessageKind,
    level: usize,
    now: Timestamp,
    tz: &TimeZone,
    public_url: &str,
) -> GroupLine {
    let when = match kind {
        MessageKind::Resolved => {
            let end = alert.resolved_at.unwrap_or(now);
            format!(
                "from {}, lasted {}",
                crate::human::time_near(alert.opened_at, now, tz),
                crate::human::elapsed(alert.opened_at, end)
            )
        }
        MessageKind::Acknowledged { by, .. } => format!(
            "taken by {by} {} after it opened",
            crate::human::elapsed(alert.opened_at, now)
        ),
        // A new alert's age says nothing; a later page's says how long it has been failing.
        MessageKind::Opened => format!(
            "since {}",
            crate::human::time_near(alert.opened_at, now, tz)
        ),
        _ => format!(
            "since {} ({})",
            crate::human::time_near(alert.opened_at, now, tz),
            crate::human::elapsed(alert.opened_at, now)
        ),
    };
    let details_url = if alert.is_open() {
        format!("{public_url}/#alert-{}", alert.id)
    } else {
        format!("{public_url}/api/v1/alerts/{}", alert.id)
    };
    GroupLine {
        alert_id: alert.id,
        kind: kind.as_str().to_string(),
        level,
        severity: alert.severity,
        title: one_line(&alert.title, REASON_MAX),
        reason: one_line(&alert.reason, REASON_MAX),
        when,
        details_url,
    }
}

/// `text` on one line, at most `max` bytes (cut at a character boundary, with an ellipsis).
fn one_line(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Whether the alerts of this kind are still open and unacknowledged (so acknowledging helps).
fn open_kind(kind: &str) -> bool {
    matches!(kind, "opened" | "escalated" | "repeat" | "reopened")
}

fn state(kind: &str) -> &'static str {
    match kind {
        "resolved" => "RESOLVED",
        "acknowledged" => "ACKNOWLEDGED",
        _ => "FAILING",
    }
}

/// What a group's subject says after its state word: how many alerts, and for pages that they
/// fail (the state word says the rest).
fn subject_core(lines: &[GroupLine]) -> String {
    let count = lines.len();
    let alerts = if count == 1 { "alert" } else { "alerts" };
    match lines.first().map(|line| line.kind.as_str()) {
        Some("opened") => format!("{count} {alerts} failing"),
        Some("escalated" | "repeat" | "reopened") => format!("{count} {alerts} still failing"),
        _ => format!("{count} {alerts}"),
    }
}

fn headline(lines: &[GroupLine]) -> String {
    let count = lines.len();
    let alerts = if count == 1 { "alert" } else { "alerts" };
    let first = &lines[0];
    match first.kind.as_str() {
        "opened" => format!("{count} {alerts} failing"),
        "escalated" => format!(
            "{count} {alerts} still failing — escalated to level {}",
            first.level
        ),
        "repeat" => format!(
            "{count} {alerts} still failing — reminder (level {})",
            first.level
        ),
        "reopened" => format!("{count} {alerts} still failing — acknowledgement lapsed"),
        "acknowledged" => format!("{count} {alerts} acknowledged"),
        "resolved" => format!("{count} {alerts} resolved"),
        other => format!("{count} {alerts} {other}"),
    }
}

/// Renders a group (of one kind: the group key names it), its alerts by number. More than
/// [`MAX_LINES`] alerts are counted, not listed (the acknowledge-all link covers them all; the
/// CLI form names the listed ones).
pub fn render(
    launch: &str,
    lines: &[GroupLine],
    ack_all: Option<&AckAll>,
    mentions: &[String],
) -> RenderedGroup {
    let severity = lines
        .iter()
        .map(|line| line.severity)
        .max()
        .unwrap_or(Severity::Critical);
    let headline = if lines.is_empty() {
        "no alerts".to_string()
    } else {
        headline(lines)
    };
    // By alert number, so a reader finds one quickly whatever order they were written in.
    let mut lines = lines.to_vec();
    lines.sort_by_key(|line| line.alert_id);
    let subject = match lines.first() {
        Some(first) => format!(
            "[{}] {} — {launch}",
            state_word(&first.kind, first.level, severity),
            subject_core(&lines)
        ),
        None => format!("{launch}: no alerts"),
    };
    let header = format!("{headline} — {launch}");
    let listed = &lines[..lines.len().min(MAX_LINES)];
    let unlisted = lines.len() - listed.len();
    let open_ids: Vec<String> = listed
        .iter()
        .filter(|line| open_kind(&line.kind))
        .map(|line| line.alert_id.to_string())
        .collect();
    let ack_cli = (!open_ids.is_empty()).then(|| format!("golive ack {}", open_ids.join(" ")));
    let listing = Listing {
        header,
        listed,
        unlisted,
        ack_cli,
        // The link acknowledges the whole burst, which may be more than this message lists.
        ack_count: ack_all.map_or(0, |ack_all| ack_all.count.max(open_ids.len())),
    };
    let text = group_text(&listing, ack_all);
    let html = group_html(&listing, &lines, severity, ack_all);
    let chat = group_chat(&subject, &listing, mentions);
    RenderedGroup {
        subject,
        text,
        html,
        chat,
    }
}

/// What every form of a group message lists, and how it is acknowledged.
struct Listing<'a> {
    /// The headline with the launch.
    header: String,
    /// The lines shown, by alert number.
    listed: &'a [GroupLine],
    /// How many more alerts the group has.
    unlisted: usize,
    /// `golive ack` with the listed open alerts, when there are any.
    ack_cli: Option<String>,
    /// How many alerts the acknowledge-all link covers.
    ack_count: usize,
}

/// The plain-text form: a line per alert and the ways to acknowledge them all.
fn group_text(listing: &Listing<'_>, ack_all: Option<&AckAll>) -> String {
    let mut text = format!("{}\n\n", listing.header);
    for line in listing.listed {
        let _ = writeln!(
            text,
            "- #{} {} {}: {}; {} — {}",
            line.alert_id,
            state(&line.kind),
            line.title,
            line.reason,
            line.when,
            line.details_url
        );
    }
    if listing.unlisted > 0 {
        let _ = writeln!(
            text,
            "- … and {} more (`golive alerts` or the status page lists them all)",
            listing.unlisted
        );
    }
    if let Some(cli) = &listing.ack_cli {
        let _ = writeln!(text, "\nTo acknowledge them all (stops their escalation):");
        if let Some(ack_all) = ack_all {
            let _ = writeln!(
                text,
                "- open {} and press the button ({} of this burst)",
                ack_all.url, listing.ack_count
            );
        }
        let _ = writeln!(text, "- or run `{cli}`");
    }
    let _ = writeln!(text, "\nEach alert's details: the link on its line.");
    text
}

/// The HTML form: a coloured bar with the state, a preheader (what inbox lists show after the
/// subject) naming the first alerts rather than repeating the subject, and the list.
fn group_html(
    listing: &Listing<'_>,
    lines: &[GroupLine],
    severity: Severity,
    ack_all: Option<&AckAll>,
) -> String {
    let (state_tag, bar) = match lines.first() {
        Some(first) => (
            state_word(&first.kind, first.level, severity),
            colour(&first.kind, severity),
        ),
        None => (String::new(), colour("", severity)),
    };
    let preheader = listing
        .listed
        .iter()
        .take(3)
        .map(|line| format!("#{} {}", line.alert_id, line.title))
        .collect::<Vec<_>>()
        .join(", ");
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body style=\"margin:0;font-family:sans-serif;color:#1a1a1a\">\
<div style=\"display:none;max-height:0;overflow:hidden\">{}{}</div>\
<div style=\"max-width:640px;padding:12px\">\
<p style=\"margin:0 0 8px;padding:6px 10px;background:{bar};color:#ffffff;font-weight:bold;letter-spacing:0.05em\">{}</p>\
<h2 style=\"margin:0 0 12px\">{}</h2><ul style=\"padding-left:1.2em\">",
        escape(&preheader),
        if lines.len() > 3 { ", …" } else { "" },
        escape(&state_tag),
        escape(&listing.header)
    );
    for line in listing.listed {
        let _ = write!(
            html,
            "<li><strong>{}</strong> <a href=\"{}\">#{} {}</a>: {}; {}</li>",
            state(&line.kind),
            escape(&line.details_url),
            line.alert_id,
            escape(&line.title),
            escape(&line.reason),
            escape(&line.when)
        );
    }
    if listing.unlisted > 0 {
        let _ = write!(
            html,
            "<li>… and {} more (<code>golive alerts</code> or the status page lists them all)</li>",
            listing.unlisted
        );
    }
    html.push_str("</ul>");
    if let Some(cli) = &listing.ack_cli {
        if let Some(ack_all) = ack_all {
            let _ = write!(
                html,
                "<p><a href=\"{}\" style=\"font-weight:bold\">Acknowledge all {}</a> (opens a confirmation page; stops their escalation and tells everyone already notified)</p>",
                escape(&ack_all.url),
                listing.ack_count
            );
        }
        let _ = write!(html, "<p>CLI: <code>{}</code></p>", escape(cli));
    }
    html.push_str("</div></body></html>");
    html
}

/// The chat form: the subject in bold, a bullet per alert, the CLI to acknowledge them all.
fn group_chat(subject: &str, listing: &Listing<'_>, mentions: &[String]) -> String {
    let mut chat = format!("*{}*", chat_escape(subject));
    for line in listing.listed {
        let _ = write!(
            chat,
            "\n• #{} {}: {}; {}",
            line.alert_id,
            chat_escape(&line.title),
            chat_escape(&line.reason),
            chat_escape(&line.when)
        );
    }
    if listing.unlisted > 0 {
        let _ = write!(chat, "\n… and {} more (`golive alerts`)", listing.unlisted);
    }
    if let Some(cli) = &listing.ack_cli {
        let _ = write!(chat, "\nAck all: `{cli}`");
    }
    if !mentions.is_empty() {
        let _ = write!(chat, "\ncc {}", mentions.join(" "));
    }
    chat
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn at(seconds: i64) -> Timestamp {
        // 2030-01-01 20:00:00 UTC
        Timestamp::from_second(1_893_528_000 + seconds).unwrap()
    }

    fn alert(id: i64) -> Alert {
        Alert {
            id,
            key: format!("check:page-{id}"),
            title: format!("Shop page {id:02}"),
            severity: Severity::Critical,
            policy: Some("page".into()),
            opened_at: at(0),
            reason: "status 503 (expected 2xx)".into(),
            level: 1,
            escalation_base: at(0),
            last_notified_at: None,
            acknowledged: None,
            resolved_at: None,
            notified: BTreeSet::new(),
            max_level: 1,
            labels: Default::default(),
        }
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn lines(kind: &MessageKind, count: i64) -> Vec<GroupLine> {
        (1..=count)
            .map(|id| {
                let mut alert = alert(id);
                if *kind == MessageKind::Resolved {
                    alert.resolved_at = Some(at(130));
                }
                line(&alert, kind, 1, at(130), &berlin(), "http://golive.test")
            })
            .collect()
    }

    #[test]
    fn a_line_says_state_check_reason_and_time_and_links_the_details() {
        let opened = &lines(&MessageKind::Opened, 1)[0];
        assert_eq!(opened.when, "since 21:00:00");
        assert_eq!(opened.details_url, "http://golive.test/#alert-1");
        let resolved = &lines(&MessageKind::Resolved, 1)[0];
        assert_eq!(resolved.when, "from 21:00:00, lasted 2 min 10 s");
        assert_eq!(resolved.details_url, "http://golive.test/api/v1/alerts/1");
        let taken = line(
            &alert(3),
            &MessageKind::Acknowledged {
                by: "Bob Berg".into(),
                note: None,
            },
            1,
            at(65),
            &berlin(),
            "http://golive.test",
        );
        assert_eq!(taken.when, "taken by Bob Berg 1 min 05 s after it opened");
    }

    #[test]
    fn a_time_on_another_day_carries_its_date_and_a_long_reason_is_shortened() {
        let mut old = alert(1);
        old.opened_at = at(-86_400);
        old.reason = format!("body did not match:\n{}", "x".repeat(300));
        let line = line(
            &old,
            &MessageKind::Repeat,
            2,
            at(0),
            &berlin(),
            "http://golive.test",
        );
        assert_eq!(line.when, "since 2029-12-31 21:00:00 CET (1 d)");
        assert!(line.reason.starts_with("body did not match: xxx"));
        assert!(line.reason.ends_with('…') && line.reason.len() <= REASON_MAX + 3);
        assert!(!line.reason.contains('\n'));
    }

    #[test]
    fn fifty_resolutions_are_a_header_and_fifty_short_lines_by_number_without_an_ack_link() {
        let mut resolved = lines(&MessageKind::Resolved, 50);
        resolved.reverse();
        let group = render("Web shop 2.0", &resolved, None, &[]);
        assert_eq!(group.subject, "[RESOLVED] 50 alerts — Web shop 2.0");
        assert!(
            group
                .text
                .starts_with("50 alerts resolved — Web shop 2.0\n\n")
        );
        assert_eq!(
            group
                .text
                .lines()
                .filter(|line| line.starts_with("- #"))
                .count(),
            50
        );
        assert!(group.text.contains(
            "- #7 RESOLVED Shop page 07: status 503 (expected 2xx); from 21:00:00, lasted 2 min 10 s — http://golive.test/api/v1/alerts/7\n"
        ));
        assert!(group.text.len() < 8 * 1024, "{}", group.text.len());
        let numbers: Vec<&str> = group
            .text
            .lines()
            .filter_map(|line| line.strip_prefix("- #")?.split(' ').next())
            .take(3)
            .collect();
        assert_eq!(numbers, ["1", "2", "3"]);
        for form in [&group.text, &group.html, &group.chat] {
            assert!(!form.contains("/ack/") && !form.contains("golive ack"));
        }
        assert_eq!(group.html.matches("<li>").count(), 50);
        assert_eq!(group.chat.lines().count(), 51);
    }

    #[test]
    fn open_alerts_get_one_acknowledge_all_link_and_the_cli_form_with_their_ids() {
        let ack_all = AckAll {
            url: "http://golive.test/ack/TOKEN".into(),
            count: 4,
        };
        let group = render(
            "Web shop 2.0",
            &lines(&MessageKind::Opened, 3),
            Some(&ack_all),
            &["@bob".to_string()],
        );
        assert_eq!(group.subject, "[CRITICAL] 3 alerts failing — Web shop 2.0");
        assert_eq!(group.text.matches("/ack/").count(), 1);
        assert_eq!(group.html.matches("/ack/").count(), 1);
        assert!(group.text.contains(
            "- open http://golive.test/ack/TOKEN and press the button (4 of this burst)"
        ));
        assert!(group.text.contains("- or run `golive ack 1 2 3`"));
        assert!(group.html.contains(">Acknowledge all 4</a>"));
        assert!(
            group
                .chat
                .ends_with("\nAck all: `golive ack 1 2 3`\ncc @bob")
        );
        assert!(
            !group.chat.contains("/ack/"),
            "no signed link in a shared channel"
        );
    }

    #[test]
    fn html_escapes_what_it_shows_and_a_huge_group_is_counted_not_listed() {
        let mut lines = lines(&MessageKind::Opened, (MAX_LINES + 5) as i64);
        lines[0].title = "<script>alert(1)</script>".into();
        let group = render("Shop & more", &lines, None, &[]);
        assert!(!group.html.contains("<script>"));
        assert!(group.html.contains("Shop &amp; more"));
        assert_eq!(group.html.matches("<li>").count(), MAX_LINES + 1);
        assert!(group.text.contains("- … and 5 more"));
        assert!(group.chat.contains("… and 5 more"));
    }

    #[test]
    fn escalations_name_their_level_and_acknowledgements_who_took_them() {
        let escalated: Vec<GroupLine> = (1..=2)
            .map(|id| {
                line(
                    &alert(id),
                    &MessageKind::Escalated,
                    2,
                    at(300),
                    &berlin(),
                    "http://golive.test",
                )
            })
            .collect();
        assert_eq!(
            render("Shop", &escalated, None, &[]).subject,
            "[ESCALATED L2] 2 alerts still failing — Shop"
        );
        let taken = lines(
            &MessageKind::Acknowledged {
                by: "Alice Adler".into(),
                note: None,
            },
            2,
        );
        let group = render("Shop", &taken, None, &[]);
        assert_eq!(group.subject, "[ACKNOWLEDGED] 2 alerts — Shop");
        assert!(group.text.contains("ACKNOWLEDGED Shop page 02"));
        assert!(group.text.contains("taken by Alice Adler"));
    }
}
