//! The `discord` webhook format: what a Discord channel webhook takes (`POST
//! https://discord.com/api/webhooks/ID/TOKEN`) — `content` (the headline, which notifications
//! show), one embed (title linking to the status page, what happened and the sections as its
//! description, the facts as fields, the tone as its colour, the launch as footer, the time) and
//! `allowed_mentions` with an empty `parse`, so nothing in the post can ping anyone.
//!
//! # Escaping
//! Discord renders Markdown in `content`, embed descriptions and field values. Text golive does
//! not write itself is escaped with a backslash before every character that could format, quote,
//! link or mention (`\ * _ ~ `` ` `` | < > [ ] ( ) #`), and before a list marker at the start of
//! a line (`-`, `+`, `1.`); `@everyone` and `@here` get a zero-width space after the `@`. So a
//! `<@123>`, `@everyone` or `[bank](https://evil.example)` in an alert arrives as plain text —
//! and `allowed_mentions` would keep even a missed mention from pinging.
//!
//! # Limits
//! Discord refuses a post beyond its limits: content 2000 characters, embed title 256,
//! description 4096, 25 fields (name 256, value 1024), footer 2048, 6000 for the whole embed.
//! Every text is cut to its limit (marked `…`), sections that do not fit the description are left
//! out and counted (`… and 3 more`), so a post always fits.
//!
//! Pure: serde types and functions, no I/O.

use serde::Serialize;

use super::WebhookMessage;
use super::chat_card::{ChatCard, Fact, FactValue, Section, Tone, backslash_escape, cut};

/// Discord's limits, in characters.
pub const CONTENT_MAX: usize = 2000;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
pub const EMBED_TOTAL_MAX: usize = 6000;

/// The body posted to a Discord webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscordMessage {
    pub content: String,
    pub allowed_mentions: AllowedMentions,
    pub embeds: Vec<Embed>,
}

/// Which mentions may ping: none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllowedMentions {
    /// Always empty: no `users`, `roles` or `everyone` are parsed from the text.
    pub parse: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Embed {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The tone as an RGB integer.
    pub color: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer: Option<Footer>,
    /// ISO 8601.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Footer {
    pub text: String,
}

/// The Discord body of `message`.
pub fn message(message: &WebhookMessage) -> DiscordMessage {
    let card = ChatCard::of(message);
    let title = fit(&escape(&card.title), TITLE_MAX);
    let footer = (!card.launch.is_empty()).then(|| Footer {
        text: fit(&escape(&format!("golive · {}", card.launch)), FOOTER_MAX),
    });
    let fields: Vec<Field> = card
        .facts
        .iter()
        .take(FIELDS_MAX)
        .map(|fact| Field {
            name: fit(&escape(&fact.label), FIELD_NAME_MAX),
            value: match &fact.value {
                FactValue::Text(text) if text.trim().is_empty() => "-".to_string(),
                FactValue::Text(text) => fit(&escape(text), FIELD_VALUE_MAX),
                // Shown in the reader's own zone and language.
                FactValue::Time(at) => format!("<t:{}:f>", at.as_second()),
            },
            inline: is_short(fact),
        })
        .collect();
    let used = title.chars().count()
        + footer
            .as_ref()
            .map_or(0, |footer| footer.text.chars().count())
        + fields
            .iter()
            .map(|field| field.name.chars().count() + field.value.chars().count())
            .sum::<usize>();
    let room = EMBED_TOTAL_MAX.saturating_sub(used).min(DESCRIPTION_MAX);
    DiscordMessage {
        content: fit(&format!("**{}**", escape(&card.title)), CONTENT_MAX),
        allowed_mentions: AllowedMentions { parse: Vec::new() },
        embeds: vec![Embed {
            title,
            url: card.link.as_ref().map(|(_, url)| url.clone()),
            description: description(&card.summary, &card.sections, room),
            color: match card.tone {
                Tone::Alarm => 0xD9_3025,
                Tone::Warning => 0xF9_AB00,
                Tone::Good => 0x1E_8E3E,
                Tone::Info => 0x1A_73E8,
            },
            fields,
            footer,
            timestamp: card
                .at
                .map(|at| at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        }],
    }
}

/// Whether a fact sits beside others (a few words) rather than on its own line.
fn is_short(fact: &Fact) -> bool {
    match &fact.value {
        FactValue::Time(_) => true,
        FactValue::Text(text) => text.chars().count() <= 40,
    }
}

/// The summary, then each section under its heading, within `room` characters: sections that do
/// not fit are left out and counted.
fn description(summary: &str, sections: &[Section], room: usize) -> String {
    let marker_room = 40;
    let mut text = fit(&escape(summary), room.saturating_sub(marker_room));
    let mut left_out = 0;
    for section in sections {
        let mut block = format!(
            "\n\n**{}**\n{}",
            fit(&escape(&section.heading), FIELD_NAME_MAX),
            fit(&escape(&section.text), FIELD_VALUE_MAX * 2)
        );
        if let Some(url) = &section.url {
            block.push_str(&format!(
                " ([status page]({}))",
                url.replace(' ', "%20").replace(')', "%29")
            ));
        }
        let fits = text.chars().count() + block.chars().count() + marker_room <= room;
        if left_out == 0 && fits {
            text.push_str(&block);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        text.push_str(&format!("\n\n… and {left_out} more"));
    }
    text.trim_start().to_string()
}

/// Escaped text cut to `max` characters, the cut marked; a cut never leaves a lone backslash
/// that would escape the mark.
fn fit(escaped: &str, max: usize) -> String {
    let mut text = cut(escaped, max);
    if text.ends_with('…') {
        let kept = text.trim_end_matches('…');
        let backslashes = kept.chars().rev().take_while(|c| *c == '\\').count();
        if backslashes % 2 == 1 {
            text = format!("{}…", &kept[..kept.len() - 1]);
        }
    }
    text
}

/// Text people wrote, made plain for Discord's Markdown: a backslash before every character that
/// could format, quote, link or mention, and before a list marker at the start of a line;
/// `@everyone` and `@here` broken with a zero-width space.
pub fn escape(text: &str) -> String {
    backslash_escape(text, MARKDOWN, "\n")
        .replace("@everyone", "@\u{200B}everyone")
        .replace("@here", "@\u{200B}here")
}

/// The characters Discord's Markdown reads as formatting, quoting, linking or mentioning.
const MARKDOWN: &[char] = &[
    '\\', '*', '_', '~', '`', '|', '<', '>', '[', ']', '(', ')', '#',
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::{GoliveBody, GroupBody};
    use crate::notify::chat_card::fixtures;

    #[test]
    fn mentions_markdown_and_masked_links_in_alert_text_arrive_as_written() {
        assert_eq!(
            escape("@everyone @here <@123> <@&9> <#5> <t:1:R>"),
            "@\u{200B}everyone @\u{200B}here \\<@123\\> \\<@&9\\> \\<\\#5\\> \\<t:1:R\\>"
        );
        assert_eq!(
            escape("**b** __u__ ~~s~~ ||spoiler|| `code` [bank](https://evil.example)"),
            r"\*\*b\*\* \_\_u\_\_ \~\~s\~\~ \|\|spoiler\|\| \`code\` \[bank\]\(https://evil.example\)"
        );
        assert_eq!(
            escape("> quote\n# head\n-# small\n- item\n3. step\na-b 1.5"),
            "\\> quote\n\\# head\n\\-\\# small\n\\- item\n3\\. step\na-b 1.5"
        );
    }

    #[test]
    fn an_alert_is_content_and_one_embed_that_can_ping_nobody() {
        let discord = message(&fixtures::alert(
            "opened",
            "Shop @everyone <@123>",
            "status 503 (expected 2xx)",
        ));
        let value = serde_json::to_value(&discord).unwrap();
        assert_eq!(value["allowed_mentions"], serde_json::json!({"parse": []}));
        assert_eq!(
            value["content"],
            "**\\[CRITICAL\\] Shop @\u{200B}everyone \\<@123\\> — Web shop 2.0**"
        );
        let embed = &value["embeds"][0];
        assert_eq!(embed["url"], "https://golive.shop.example/#alert-12");
        assert_eq!(embed["color"], 0xD93025);
        assert_eq!(embed["timestamp"], "2030-01-01T20:00:00Z");
        assert_eq!(embed["fields"][2]["value"], "<t:1893528000:f>");
        let description = embed["description"].as_str().unwrap();
        assert!(
            description.starts_with("status 503 \\(expected 2xx\\)\n\n**Contingency"),
            "{description}"
        );
        assert!(
            description.contains("**Rollback recommended**\n1\\. Redeploy 1.9\n2\\. Restore"),
            "{description}"
        );
    }

    #[test]
    fn a_group_is_a_line_per_alert_each_with_its_link_and_what_does_not_fit_is_counted() {
        let alerts: Vec<GoliveBody> = (1..=60)
            .map(|n| fixtures::alert("opened", &format!("Page {n}"), "status 503").json)
            .collect();
        let group = WebhookMessage {
            text: "*60 alerts*".into(),
            json: GoliveBody::Group(GroupBody::Merged {
                event: Some("opened".into()),
                launch: "Web shop 2.0".into(),
                count: alerts.len(),
                alerts,
            }),
        };
        let discord = super::message(&group);
        let embed = &discord.embeds[0];
        assert_eq!(embed.title, "\\[CRITICAL\\] 60 alerts — Web shop 2.0");
        assert!(embed.description.starts_with(
            "**\\#12 \\[CRITICAL\\] Page 1**\nstatus 503 ([status page](https://golive.shop.example/#alert-12))"
        ), "{}", embed.description);
        assert!(embed.description.chars().count() <= DESCRIPTION_MAX);
        assert!(
            embed.description.ends_with(" more"),
            "{}",
            embed.description
        );
    }

    #[test]
    fn a_post_with_more_than_fits_keeps_every_limit_and_marks_what_it_cut() {
        let mut message = fixtures::alert("opened", &"T*".repeat(400), &"reason ".repeat(2000));
        if let crate::core::message::GoliveBody::Alert(body) = &mut message.json {
            let risk = body.risks[0].clone();
            body.risks = (0..30)
                .map(|n| crate::core::message::RiskFacts {
                    id: format!("r{n}"),
                    contingency: "x".repeat(3000),
                    ..risk.clone()
                })
                .collect();
            body.recipients = (0..500).map(|n| format!("Person {n}")).collect();
        }
        let discord = super::message(&message);
        let length = |text: &str| text.chars().count();
        assert!(length(&discord.content) <= CONTENT_MAX);
        let embed = &discord.embeds[0];
        assert!(length(&embed.title) <= TITLE_MAX && embed.title.ends_with('…'));
        assert!(length(&embed.description) <= DESCRIPTION_MAX);
        assert!(embed.description.ends_with("more"), "{}", embed.description);
        assert!(embed.fields.len() <= FIELDS_MAX);
        let total = length(&embed.title)
            + length(&embed.description)
            + embed
                .footer
                .as_ref()
                .map_or(0, |footer| length(&footer.text))
            + embed
                .fields
                .iter()
                .map(|field| {
                    assert!(length(&field.name) <= FIELD_NAME_MAX);
                    assert!(length(&field.value) <= FIELD_VALUE_MAX);
                    length(&field.name) + length(&field.value)
                })
                .sum::<usize>();
        assert!(total <= EMBED_TOTAL_MAX, "{total}");
    }
}
