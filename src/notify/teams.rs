//! The `teams` webhook format: what a Microsoft Teams workflow ("Post to a channel when a webhook
//! request is received", the replacement of Office 365 connectors) takes — a `message` whose one
//! attachment is an Adaptive Card (version 1.4, which Teams renders on desktop, web and mobile):
//! the headline on a band in the tone's colour, what happened, the facts, each section (a
//! contingency, the rollback procedure, one alert of a group) and an `Action.OpenUrl` to the
//! status page.
//!
//! # Escaping
//! A `TextBlock` and a `FactSet` render a Markdown subset (bold, italic, lists, links) and the
//! `{{DATE()}}`/`{{TIME()}}` functions. Text golive does not write itself (check and risk names,
//! reasons, notes, procedures) is escaped with a backslash before every character that could
//! format, link or call a function (`\ * _ ~ `` ` `` [ ] ( ) < > # { } |`), and before a list
//! marker at the start of a line (`-`, `+`, `1.`), so it arrives as written. A one-click
//! acknowledgement link is never put in a shared channel (it is signed for one person, by email);
//! the card says the `golive ack` command instead.
//!
//! # Size
//! Teams refuses a card over 28 KB. Long texts are cut (marked `…`), and sections that do not fit
//! are left out, the card saying how many and where to read them: it stays under
//! [`CARD_MAX_BYTES`].
//!
//! Pure: serde types and functions, no I/O.

use serde::Serialize;

use super::WebhookMessage;
use super::chat_card::{ChatCard, FactValue, Tone, backslash_escape, cut};

/// The most bytes a posted card has (Teams' limit is 28 KB for the whole message).
pub const CARD_MAX_BYTES: usize = 27 * 1024;

/// The most characters of one text (before escaping): long enough for a rollback procedure.
const TEXT_MAX_CHARS: usize = 3000;
/// The most characters of a headline or a fact.
const LINE_MAX_CHARS: usize = 400;

/// The body posted to a Teams workflow webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamsMessage {
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub attachments: Vec<Attachment>,
}

/// The message's one attachment: the card.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Always `application/vnd.microsoft.card.adaptive`.
    pub content_type: &'static str,
    /// Always null: the card is inline.
    pub content_url: Option<String>,
    pub content: AdaptiveCard,
}

/// An Adaptive Card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdaptiveCard {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    /// Always `AdaptiveCard`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: &'static str,
    pub body: Vec<Element>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// Teams' own extension: use the channel's full width.
    pub msteams: MsTeams,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MsTeams {
    pub width: &'static str,
}

/// A card element golive uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Element {
    TextBlock(TextBlock),
    FactSet { facts: Vec<TeamsFact> },
    Container(Container),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextBlock {
    /// Markdown: golive's own markup around escaped text.
    pub text: String,
    pub wrap: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spacing: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamsFact {
    pub title: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    /// `attention`, `warning`, `good` or `accent`: the band's colour.
    pub style: &'static str,
    pub bleed: bool,
    pub items: Vec<Element>,
}

/// `Action.OpenUrl`: a button that opens golive's link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub url: String,
}

/// The Teams body of `message`.
pub fn message(message: &WebhookMessage) -> TeamsMessage {
    let card = ChatCard::of(message);
    let mut sections: Vec<Element> = card.sections.iter().flat_map(section).collect();
    let mut left_out = 0;
    loop {
        let teams = wrap(&card, sections.clone(), left_out);
        let fits = serde_json::to_vec(&teams).map_or(true, |bytes| bytes.len() <= CARD_MAX_BYTES);
        // Each section is two blocks (heading and text): drop the last one until it fits.
        if fits || sections.len() < 2 {
            return teams;
        }
        sections.truncate(sections.len() - 2);
        left_out += 1;
    }
}

/// The card around `sections`, saying how many were `left_out` for size.
fn wrap(card: &ChatCard, mut sections: Vec<Element>, left_out: usize) -> TeamsMessage {
    let style = match card.tone {
        Tone::Alarm => "attention",
        Tone::Warning => "warning",
        Tone::Good => "good",
        Tone::Info => "accent",
    };
    let mut body = vec![Element::Container(Container {
        style,
        bleed: true,
        items: vec![Element::TextBlock(TextBlock {
            text: escape(&cut(&card.title, LINE_MAX_CHARS)),
            wrap: true,
            weight: Some("Bolder"),
            size: Some("Medium"),
            spacing: None,
        })],
    })];
    if !card.summary.is_empty() {
        body.push(text_block(escape(&cut(&card.summary, TEXT_MAX_CHARS))));
    }
    if !card.facts.is_empty() {
        body.push(Element::FactSet {
            facts: card
                .facts
                .iter()
                .map(|fact| TeamsFact {
                    title: escape(&fact.label),
                    value: match &fact.value {
                        FactValue::Text(text) => escape(&cut(text, LINE_MAX_CHARS)),
                        FactValue::Time(at) => {
                            let at = at.strftime("%Y-%m-%dT%H:%M:%SZ");
                            format!("{{{{DATE({at}, SHORT)}}}} {{{{TIME({at})}}}}")
                        }
                    },
                })
                .collect(),
        });
    }
    body.append(&mut sections);
    if left_out > 0 {
        body.push(text_block(format!(
            "_{left_out} more not shown here (Teams limits a card to 28 KB): see the status page or `golive alerts`._"
        )));
    }
    if !card.launch.is_empty() {
        body.push(Element::TextBlock(TextBlock {
            text: escape(&format!("golive · {}", card.launch)),
            wrap: true,
            weight: Some("Lighter"),
            size: Some("Small"),
            spacing: Some("Medium"),
        }));
    }
    TeamsMessage {
        kind: "message",
        attachments: vec![Attachment {
            content_type: "application/vnd.microsoft.card.adaptive",
            content_url: None,
            content: AdaptiveCard {
                schema: "http://adaptivecards.io/schemas/adaptive-card.json",
                kind: "AdaptiveCard",
                version: "1.4",
                body,
                actions: card
                    .link
                    .iter()
                    .map(|(label, url)| Action {
                        kind: "Action.OpenUrl",
                        title: cut(label, LINE_MAX_CHARS),
                        url: url.clone(),
                    })
                    .collect(),
                msteams: MsTeams { width: "Full" },
            },
        }],
    }
}

/// A section as its heading and its text (with golive's link as a Markdown link).
fn section(section: &super::chat_card::Section) -> [Element; 2] {
    let mut text = escape(&cut(&section.text, TEXT_MAX_CHARS));
    if let Some(url) = &section.url {
        text.push_str(&format!("\n\n[Details]({})", link_target(url)));
    }
    [
        Element::TextBlock(TextBlock {
            text: format!("**{}**", escape(&cut(&section.heading, LINE_MAX_CHARS))),
            wrap: true,
            weight: None,
            size: None,
            spacing: Some("Medium"),
        }),
        text_block(text),
    ]
}

fn text_block(text: String) -> Element {
    Element::TextBlock(TextBlock {
        text,
        wrap: true,
        weight: None,
        size: None,
        spacing: None,
    })
}

/// golive's own URL as a Markdown link target: the characters that would end it are encoded.
fn link_target(url: &str) -> String {
    url.replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

/// Text people wrote, made plain for an Adaptive Card's Markdown: a backslash before every
/// character that could format, link or call a function, and before a list marker at the start
/// of a line; each line break a paragraph break (Teams joins single line breaks).
pub fn escape(text: &str) -> String {
    backslash_escape(text, MARKDOWN, "\n\n")
}

/// The characters Teams' Markdown subset, its `{{DATE()}}` functions or an HTML-minded renderer
/// could act on.
const MARKDOWN: &[char] = &[
    '\\', '*', '_', '~', '`', '[', ']', '(', ')', '<', '>', '#', '{', '}', '|',
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::chat_card::fixtures;

    #[test]
    fn markdown_links_html_and_list_markers_in_alert_text_arrive_as_written() {
        assert_eq!(
            escape("*bold* _it_ [bank](https://evil.example) <b>x</b> {{DATE(x)}} a|b"),
            r"\*bold\* \_it\_ \[bank\]\(https://evil.example\) \<b\>x\</b\> \{\{DATE\(x\)\}\} a\|b"
        );
        assert_eq!(
            escape("# head\n- item\n  + sub\n12. step\nx - y 1. z"),
            "\\# head\n\n\\- item\n\n  \\+ sub\n\n12\\. step\n\nx - y 1. z"
        );
        assert_eq!(escape(r"C:\temp"), r"C:\\temp");
    }

    #[test]
    fn an_alert_is_a_message_with_one_adaptive_card_and_a_button_to_the_status_page() {
        let teams = message(&fixtures::alert(
            "opened",
            "Shop *front* page",
            "status 503 (expected 2xx)",
        ));
        let value = serde_json::to_value(&teams).unwrap();
        assert_eq!(value["type"], "message");
        let attachment = &value["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let band = &card["body"][0];
        assert_eq!(band["type"], "Container");
        assert_eq!(band["style"], "attention");
        assert_eq!(
            band["items"][0]["text"],
            r"\[CRITICAL\] Shop \*front\* page — Web shop 2.0"
        );
        assert_eq!(card["body"][1]["text"], r"status 503 \(expected 2xx\)");
        let facts = card["body"][2]["facts"].as_array().unwrap();
        assert_eq!(
            facts[2]["value"],
            "{{DATE(2030-01-01T20:00:00Z, SHORT)}} {{TIME(2030-01-01T20:00:00Z)}}"
        );
        let text = serde_json::to_string(card).unwrap();
        assert!(text.contains(r"**Rollback recommended**"), "{text}");
        assert!(
            text.contains(r"1\\. Redeploy 1.9\n\n2\\. Restore"),
            "{text}"
        );
        assert_eq!(
            card["actions"][0],
            serde_json::json!({
                "type": "Action.OpenUrl",
                "title": "Alert #12 on the status page",
                "url": "https://golive.shop.example/#alert-12"
            })
        );
    }

    #[test]
    fn a_card_with_more_than_fits_stays_under_the_limit_and_says_what_it_left_out() {
        let mut message = fixtures::alert("opened", "Shop", "failing");
        if let crate::core::message::GoliveBody::Alert(body) = &mut message.json {
            let risk = body.risks[0].clone();
            body.risks = (0..40)
                .map(|n| crate::core::message::RiskFacts {
                    id: format!("r{n}"),
                    contingency: "[*]".repeat(2000),
                    ..risk.clone()
                })
                .collect();
        }
        let bytes = serde_json::to_vec(&super::message(&message)).unwrap();
        assert!(bytes.len() <= CARD_MAX_BYTES, "{}", bytes.len());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("more not shown here"), "{text}");
        assert!(text.contains('…'), "long texts are cut, marked");
    }
}
