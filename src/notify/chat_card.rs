//! What a rich chat post shows, whatever the app: a [`ChatCard`] read from a [`WebhookMessage`]
//! — a headline, a tone, what happened, facts, sections (a risk's contingency, the rollback
//! procedure, one line per alert of a group) and golive's own link — as plain text, not yet
//! escaped. The Microsoft Teams ([`super::teams`]) and Discord ([`super::discord`]) formats
//! render the same card, each escaping the text by its own rules and keeping its own limits, so
//! both say the same thing and the walk over golive's bodies is written once.
//!
//! An alert, a group of alerts and a channel test are read from the typed `golive` body; every
//! other message (golive's warnings, runbook lateness, stakeholder updates, bodies of another
//! version) from its Slack text, which golive writes as `*headline*` and lines of text with only
//! `&`, `<` and `>` escaped, and its own links as `<url|label>`: that markup is undone exactly.
//!
//! Pure: no I/O, no clock.

use jiff::Timestamp;

use super::WebhookMessage;
use crate::core::message::{AlertBody, GoliveBody, GroupBody, TestBody, UpdateBody, WarningBody};
use crate::plan::checks::Severity;
use crate::report::alert_message::state_word;

/// One chat post, as plain text.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCard {
    /// The headline, e.g. `[CRITICAL] Shop front page — Web shop 2.0`.
    pub title: String,
    pub tone: Tone,
    /// What happened, in a sentence or a few (may be empty).
    pub summary: String,
    pub facts: Vec<Fact>,
    pub sections: Vec<Section>,
    /// golive's own link: (label, URL), e.g. the alert on the status page.
    pub link: Option<(String, String)>,
    /// The launch, for a footer.
    pub launch: String,
    /// When golive wrote the message, when it knows.
    pub at: Option<Timestamp>,
}

/// How the post should look at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A critical page: red.
    Alarm,
    /// A warning, a reminder, golive's own trouble: amber.
    Warning,
    /// Resolved: green.
    Good,
    /// Acknowledged, an update, a test: neutral.
    Info,
}

/// A labelled fact, e.g. `Phase: verifying`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub label: String,
    pub value: FactValue,
}

/// A fact's value: text, or a time each app shows in its reader's own zone.
#[derive(Debug, Clone, PartialEq)]
pub enum FactValue {
    Text(String),
    Time(Timestamp),
}

/// A block of text under a heading (a contingency, the rollback procedure, one alert of a
/// group), with a link of golive's own when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub heading: String,
    pub text: String,
    pub url: Option<String>,
}

impl ChatCard {
    /// The card of `message`.
    pub fn of(message: &WebhookMessage) -> ChatCard {
        match &message.json {
            GoliveBody::Alert(body) => alert_card(body),
            GoliveBody::Group(group) => group_card(group).unwrap_or_else(|| from_slack(message)),
            GoliveBody::Test(test) => test_card(test),
            _ => from_slack(message),
        }
    }
}

/// An alert's message: the same facts as its email, shorter.
fn alert_card(body: &AlertBody) -> ChatCard {
    let alert = &body.alert;
    let open = !matches!(body.kind.as_str(), "acknowledged" | "resolved");
    let tone = match (body.kind.as_str(), alert.severity) {
        ("resolved", _) => Tone::Good,
        ("acknowledged", _) => Tone::Info,
        (_, Severity::Critical) => Tone::Alarm,
        (_, Severity::Warning) => Tone::Warning,
        (_, Severity::Info) => Tone::Info,
    };
    let mut facts = vec![
        text_fact("Severity", alert.severity.as_str()),
        text_fact("Phase", &body.phase.to_string()),
        time_fact("Since", alert.opened_at),
    ];
    if open {
        facts.push(text_fact("Level", &body.level.to_string()));
    }
    if let Some(acknowledged) = &alert.acknowledged {
        facts.push(text_fact("Acknowledged by", &acknowledged.by));
    }
    if let Some(resolved_at) = alert.resolved_at {
        facts.push(text_fact(
            "Lasted",
            &crate::human::elapsed(alert.opened_at, resolved_at),
        ));
    }
    if let Some(check) = &body.check {
        facts.push(text_fact("Probes", &check.probes));
    }
    if !body.steps_running.is_empty() {
        facts.push(text_fact("Runbook", &body.steps_running.join("; ")));
    }
    if !body.recipients.is_empty() {
        facts.push(text_fact("Told", &body.recipients.join(", ")));
    }
    if open && let Some(next) = &body.next_level {
        facts.push(text_fact("Next", next));
    }
    if open {
        facts.push(text_fact("Acknowledge", &body.acknowledge.cli));
    }
    let mut sections = Vec::new();
    if let Some(note) = &body.note {
        sections.push(section("Note", note, None));
    }
    if open {
        for risk in &body.risks {
            sections.push(section(
                &format!("Contingency ({})", risk.title),
                &risk.contingency,
                None,
            ));
        }
        if body.rollback_recommended
            && let Some(procedure) = &body.rollback_procedure
        {
            sections.push(section("Rollback recommended", procedure.trim_end(), None));
        }
    }
    ChatCard {
        title: format!(
            "[{}] {} — {}",
            state_word(&body.kind, body.level, alert.severity),
            alert.title,
            body.launch
        ),
        tone,
        summary: what_happened(body),
        facts,
        sections,
        link: Some((
            format!("Alert #{} on the status page", alert.id),
            body.status_url.clone(),
        )),
        launch: body.launch.clone(),
        at: Some(body.sent_at),
    }
}

/// What failed (the value as people read it, else the reason) — said as past once resolved.
fn what_happened(body: &AlertBody) -> String {
    let failed = body.value.as_deref().unwrap_or(&body.alert.reason);
    if body.kind == "resolved" {
        format!("Healthy again. It failed with: {failed}")
    } else {
        failed.to_string()
    }
}

/// Several alerts' messages of one burst: a line per alert with its link. `None` when the group
/// holds no alert (then its Slack text says it).
fn group_card(group: &GroupBody) -> Option<ChatCard> {
    let (event, alerts) = match group {
        GroupBody::Merged { event, alerts, .. } => (event.as_deref(), alerts),
        GroupBody::Unmerged { alerts, .. } => (None, alerts),
    };
    let bodies: Vec<&AlertBody> = alerts
        .iter()
        .filter_map(|body| match body {
            GoliveBody::Alert(body) => Some(body.as_ref()),
            _ => None,
        })
        .collect();
    let first = bodies.first()?;
    let event = event.unwrap_or(&first.kind);
    let worst = bodies.iter().map(|body| body.alert.severity).max()?;
    let (state, tone) = match event {
        "resolved" => ("RESOLVED".to_string(), Tone::Good),
        "acknowledged" => ("ACKNOWLEDGED".to_string(), Tone::Info),
        other => (
            state_word(other, first.level, worst),
            if worst == Severity::Critical {
                Tone::Alarm
            } else {
                Tone::Warning
            },
        ),
    };
    let sections = bodies
        .iter()
        .map(|body| {
            section(
                &format!(
                    "#{} [{}] {}",
                    body.alert.id,
                    body.alert.severity.as_str().to_uppercase(),
                    body.alert.title
                ),
                body.value.as_deref().unwrap_or(&body.alert.reason),
                Some(&body.status_url),
            )
        })
        .collect();
    Some(ChatCard {
        title: format!(
            "[{state}] {} alerts — {}",
            alerts.len(),
            first.launch.as_str()
        ),
        tone,
        summary: String::new(),
        facts: vec![text_fact("Phase", &first.phase.to_string())],
        sections,
        link: None,
        launch: first.launch.clone(),
        at: Some(first.sent_at),
    })
}

/// `golive notify test`.
fn test_card(test: &TestBody) -> ChatCard {
    ChatCard {
        title: format!(
            "[TEST] {}: golive notification test via {}",
            test.launch, test.channel
        ),
        tone: Tone::Info,
        summary: test.message.clone(),
        facts: Vec::new(),
        sections: Vec::new(),
        link: None,
        launch: test.launch.clone(),
        at: None,
    }
}

/// Any other message, from its Slack text: the first line's `*headline*` (a mention golive put
/// after it is dropped: a Slack handle means nothing elsewhere), the rest as the summary, golive's
/// `<url|label>` links as `label: url`, the three entities undone.
fn from_slack(message: &WebhookMessage) -> ChatCard {
    let (first, rest) = message
        .text
        .split_once('\n')
        .unwrap_or((message.text.as_str(), ""));
    let title = first
        .strip_prefix('*')
        .and_then(|headline| headline.split_once('*'))
        .map_or(first, |(headline, _)| headline);
    let (launch, tone) = match &message.json {
        GoliveBody::Warning(WarningBody::Message { launch, .. })
        | GoliveBody::Warning(WarningBody::Blind { launch, .. })
        | GoliveBody::RunbookLate(crate::core::message::RunbookLateBody { launch, .. }) => {
            (launch.clone(), Tone::Warning)
        }
        GoliveBody::Update(UpdateBody::Phase { launch, .. })
        | GoliveBody::Update(UpdateBody::Manual { launch, .. }) => (launch.clone(), Tone::Info),
        _ => (String::new(), Tone::Info),
    };
    ChatCard {
        title: from_slack_text(title),
        tone,
        summary: from_slack_text(rest),
        facts: Vec::new(),
        sections: Vec::new(),
        link: None,
        launch,
        at: None,
    }
}

/// Slack text as plain text: `<url|label>` becomes `label: url`, `<url>` the URL, and `&lt;`,
/// `&gt;`, `&amp;` their characters. Text people wrote never holds a raw `<` (it was escaped),
/// so every `<…>` is golive's own markup.
pub fn from_slack_text(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        plain.push_str(&unescape(&rest[..start]));
        let after = &rest[start + 1..];
        match after.find('>') {
            Some(end) => {
                let inner = &after[..end];
                match inner.split_once('|') {
                    Some((url, label)) => {
                        plain.push_str(&unescape(label));
                        plain.push_str(": ");
                        plain.push_str(url);
                    }
                    None => plain.push_str(inner),
                }
                rest = &after[end + 1..];
            }
            None => {
                plain.push_str(&unescape(&rest[start..]));
                rest = "";
            }
        }
    }
    plain.push_str(&unescape(rest));
    plain
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn text_fact(label: &str, value: &str) -> Fact {
    Fact {
        label: label.to_string(),
        value: FactValue::Text(value.to_string()),
    }
}

fn time_fact(label: &str, at: Timestamp) -> Fact {
    Fact {
        label: label.to_string(),
        value: FactValue::Time(at),
    }
}

fn section(heading: &str, text: &str, url: Option<&str>) -> Section {
    Section {
        heading: heading.to_string(),
        text: text.to_string(),
        url: url.map(str::to_string),
    }
}

/// Text people wrote, made plain for a chat app's Markdown: a backslash before each of
/// `specials` and before a list marker at the start of a line (`-`, `+`, the `.` of `1.`), each
/// line break written as `line_break`. Both apps read a backslash before any ASCII punctuation
/// as "this character as it is", so an escape never shows.
pub fn backslash_escape(text: &str, specials: &[char], line_break: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push_str(line_break);
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        let indent = line.len() - line.trim_start().len();
        out.push_str(&line[..indent]);
        let line = &line[indent..];
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        for (at, character) in line.char_indices() {
            let list_marker = (at == 0 && matches!(character, '-' | '+'))
                || (digits > 0 && at == digits && character == '.');
            if list_marker || specials.contains(&character) {
                out.push('\\');
            }
            out.push(character);
        }
    }
    out
}

/// `text` cut to at most `max` characters, the cut marked with `…`.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut kept: String = text.chars().take(max.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// Test fixtures shared with the formats' tests: an alert's body as the engine writes it.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::core::message::{
        AlertBody, AlertFacts, CheckFacts, GoliveBody, HowToAcknowledge, RiskFacts, WebhookMessage,
    };
    use crate::domain::Phase;
    use crate::plan::checks::Severity;

    /// A critical alert's message of `kind` whose check is called `title` and fails for `reason`.
    pub fn alert(kind: &str, title: &str, reason: &str) -> WebhookMessage {
        let at = jiff::Timestamp::from_second(1_893_528_000).unwrap();
        WebhookMessage {
            text: "*slack text*".into(),
            json: GoliveBody::Alert(Box::new(AlertBody {
                kind: kind.into(),
                launch: "Web shop 2.0".into(),
                alert: AlertFacts {
                    id: 12,
                    key: "check:web".into(),
                    title: title.into(),
                    severity: Severity::Critical,
                    reason: reason.into(),
                    opened_at: at,
                    acknowledged: None,
                    resolved_at: None,
                },
                check: Some(CheckFacts {
                    id: "web".into(),
                    name: title.into(),
                    kind: "http".into(),
                    probes: "GET https://shop.example/health".into(),
                }),
                value: None,
                value_now: None,
                value_at_opening: None,
                phase: Phase::Verifying,
                level: 1,
                risks: vec![RiskFacts {
                    id: "payments".into(),
                    title: "Payment provider fails".into(),
                    contingency: "Switch to the fallback provider".into(),
                }],
                rollback_recommended: true,
                rollback_procedure: Some("1. Redeploy 1.9\n2. Restore the database".into()),
                recipients: vec!["Bob Berg".into()],
                also_told: Vec::new(),
                next_level: Some("level 2 (Alice Adler) at 21:05:00".into()),
                steps_running: Vec::new(),
                note: None,
                status_url: "https://golive.shop.example/#alert-12".into(),
                acknowledge: HowToAcknowledge {
                    cli: "golive ack 12".into(),
                    api: "POST /api/v1/alerts/12/ack".into(),
                },
                sent_at: at,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::WarningBody;

    #[test]
    fn an_open_alert_says_what_failed_its_contingency_the_procedure_and_how_to_acknowledge() {
        let card = ChatCard::of(&fixtures::alert(
            "opened",
            "Shop front page",
            "status 503 (expected 2xx)",
        ));
        assert_eq!(card.title, "[CRITICAL] Shop front page — Web shop 2.0");
        assert_eq!(card.tone, Tone::Alarm);
        assert_eq!(card.summary, "status 503 (expected 2xx)");
        let labels: Vec<&str> = card.facts.iter().map(|fact| fact.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Severity",
                "Phase",
                "Since",
                "Level",
                "Probes",
                "Told",
                "Next",
                "Acknowledge"
            ]
        );
        let headings: Vec<&str> = card
            .sections
            .iter()
            .map(|section| section.heading.as_str())
            .collect();
        assert_eq!(
            headings,
            [
                "Contingency (Payment provider fails)",
                "Rollback recommended"
            ]
        );
        assert_eq!(
            card.link.unwrap().1,
            "https://golive.shop.example/#alert-12"
        );
    }

    #[test]
    fn a_resolution_is_good_news_without_what_to_do() {
        let card = ChatCard::of(&fixtures::alert("resolved", "Shop", "ok"));
        assert_eq!(card.tone, Tone::Good);
        assert!(card.title.starts_with("[RESOLVED] "));
        assert_eq!(card.summary, "Healthy again. It failed with: ok");
        assert!(card.sections.is_empty());
        assert!(!card.facts.iter().any(|fact| fact.label == "Acknowledge"));
    }

    #[test]
    fn other_messages_are_read_from_their_slack_text_exactly() {
        let message = WebhookMessage {
            text: "*[WARNING] Shop: step &lt;!channel&gt; late* <@U123>\nowner &lt;@U9&gt; &amp;co\nsee <https://golive.example/#runbook|the runbook>".into(),
            json: GoliveBody::Warning(WarningBody::Message {
                launch: "Shop".into(),
                message: "m".into(),
            }),
        };
        let card = ChatCard::of(&message);
        assert_eq!(card.title, "[WARNING] Shop: step <!channel> late");
        assert_eq!(
            card.summary,
            "owner <@U9> &co\nsee the runbook: https://golive.example/#runbook"
        );
        assert_eq!(card.tone, Tone::Warning);
        assert_eq!(card.launch, "Shop");
    }

    #[test]
    fn a_cut_is_marked_and_keeps_the_limit() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut("äöüß", 4), "äöüß");
    }
}
