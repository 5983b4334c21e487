//! Merging the notifications of one group into one message. The engine gives notifications of a
//! burst (same channel, recipient and kind within the group window) one group key; the dispatcher
//! hands the rows of a group that are due together to [`emails`] or [`webhooks`], which turn them
//! into one compact message: a header, one line per alert, and for open alerts one
//! acknowledge-all link ([`crate::report::alert_group`] renders it).
//!
//! Each row's payload is the full message for that alert (sent as it is when the row goes out
//! alone) plus what it contributes to a group ([`OutboxPayload`]'s `group`): its line, and for
//! open alerts by email the group's signed acknowledge-all link (the engine signs it when it
//! writes the row; the dispatcher holds no key).

use super::{OutboxPayload, OutgoingEmail, WebhookMessage};
use crate::core::message::{GoliveBody, GroupBody};
use crate::report::alert_group::{self, AckAll, GroupItem, GroupLine};

/// The emails of one group as one message; `None` when there is none.
pub fn emails(payloads: &[OutboxPayload]) -> Option<OutgoingEmail> {
    merge_emails(
        payloads
            .iter()
            .filter_map(|payload| match payload {
                OutboxPayload::Email { message, group } => Some((message.clone(), group.clone())),
                _ => None,
            })
            .collect(),
    )
}

/// The chat messages of one group as one post; `None` when there is none.
pub fn webhooks(payloads: &[OutboxPayload]) -> Option<WebhookMessage> {
    merge_webhooks(
        payloads
            .iter()
            .filter_map(|payload| match payload {
                OutboxPayload::Webhook { message, group } => Some((message.clone(), group.clone())),
                _ => None,
            })
            .collect(),
    )
}

/// What the items of a group say together: the launch, each alert's line once, the
/// acknowledge-all link that covers the most alerts, every mention once. `None` when a row has no
/// item (written by an older golive).
struct Merged {
    launch: String,
    lines: Vec<GroupLine>,
    ack_all: Option<AckAll>,
    mentions: Vec<String>,
}

fn merged<'a>(items: impl Iterator<Item = Option<&'a GroupItem>>) -> Option<Merged> {
    let mut merged = Merged {
        launch: String::new(),
        lines: Vec::new(),
        ack_all: None,
        mentions: Vec::new(),
    };
    for item in items {
        let item = item?;
        if merged.launch.is_empty() {
            merged.launch = item.launch.clone();
        }
        if !merged
            .lines
            .iter()
            .any(|line| line.alert_id == item.line.alert_id)
        {
            merged.lines.push(item.line.clone());
        }
        if let Some(ack_all) = &item.ack_all
            && merged
                .ack_all
                .as_ref()
                .is_none_or(|known| ack_all.count > known.count)
        {
            merged.ack_all = Some(ack_all.clone());
        }
        for mention in &item.mentions {
            if !merged.mentions.contains(mention) {
                merged.mentions.push(mention.clone());
            }
        }
    }
    Some(merged)
}

/// Several emails of one group as one compact message in the first one's thread; one email is
/// sent as it is.
pub fn merge_emails(mut emails: Vec<(OutgoingEmail, Option<GroupItem>)>) -> Option<OutgoingEmail> {
    if emails.len() <= 1 {
        return emails.pop().map(|(email, _)| email);
    }
    let mut message = emails[0].0.clone();
    match merged(emails.iter().map(|(_, item)| item.as_ref())) {
        Some(group) => {
            let rendered =
                alert_group::render(&group.launch, &group.lines, group.ack_all.as_ref(), &[]);
            message.subject = rendered.subject;
            message.text = rendered.text;
            message.html = Some(rendered.html);
        }
        None => {
            // Rows without a line (an older golive wrote them): their subjects, one per line.
            message.subject = format!("{} (and {} more)", emails[0].0.subject, emails.len() - 1);
            message.text = format!(
                "{} notifications together:\n{}\n\nDetails: `golive alerts` or the status page.\n",
                emails.len(),
                emails
                    .iter()
                    .map(|(email, _)| format!("- {}", email.subject))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            message.html = None;
        }
    }
    for (email, _) in &emails[1..] {
        for recipient in &email.to {
            if !message.to.iter().any(|known| known.1 == recipient.1) {
                message.to.push(recipient.clone());
            }
        }
    }
    Some(message)
}

/// Several chat messages of one group as one post: a line per alert; one message is posted as it
/// is. The `golive` JSON format carries every alert's full JSON.
pub fn merge_webhooks(
    mut messages: Vec<(WebhookMessage, Option<GroupItem>)>,
) -> Option<WebhookMessage> {
    if messages.len() <= 1 {
        return messages.pop().map(|(message, _)| message);
    }
    let alerts: Vec<GoliveBody> = messages
        .iter()
        .map(|(message, _)| message.json.clone())
        .collect();
    Some(
        match merged(messages.iter().map(|(_, item)| item.as_ref())) {
            Some(group) => WebhookMessage {
                text: alert_group::render(&group.launch, &group.lines, None, &group.mentions).chat,
                json: GoliveBody::Group(GroupBody::Merged {
                    event: group.lines.first().map(|line| line.kind.clone()),
                    launch: group.launch,
                    count: group.lines.len(),
                    alerts,
                }),
            },
            None => WebhookMessage {
                text: format!(
                    "{} notifications:\n{}",
                    messages.len(),
                    messages
                        .iter()
                        .map(|(message, _)| {
                            message.text.lines().next().unwrap_or_default().to_string()
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                json: GoliveBody::Group(GroupBody::Unmerged {
                    count: messages.len(),
                    alerts,
                }),
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::checks::Severity;

    fn line(id: i64, kind: &str) -> GroupLine {
        GroupLine {
            alert_id: id,
            kind: kind.into(),
            level: 1,
            severity: Severity::Critical,
            title: format!("Shop page {id:02}"),
            reason: "status 503 (expected 2xx)".into(),
            when: "since 21:00:00 (5 s)".into(),
            details_url: format!("http://golive.test/#alert-{id}"),
        }
    }

    fn email(id: i64, to: &str, kind: &str, ack_all: Option<AckAll>) -> OutboxPayload {
        let email = OutgoingEmail {
            to: vec![(None, to.to_string())],
            subject: format!("[CRITICAL] Shop: Shop page {id:02} is failing"),
            text: format!("Shop page {id:02} is failing\n\n{}", "details ".repeat(80)),
            html: Some("<p>full</p>".into()),
            message_id: format!("alert-{id}@test"),
            in_reply_to: None,
            references: Vec::new(),
            inline_images: Vec::new(),
            calendar: None,
        };
        OutboxPayload::email(email).with_group(GroupItem {
            launch: "Shop".into(),
            line: line(id, kind),
            ack_all,
            mentions: Vec::new(),
        })
    }

    fn ack_all(count: usize) -> Option<AckAll> {
        Some(AckAll {
            url: format!("http://golive.test/ack/token-{count}"),
            count,
        })
    }

    #[test]
    fn one_email_goes_out_as_it_is() {
        let payload = email(1, "bob@example.com", "opened", ack_all(1));
        let sent = emails(&[payload]).unwrap();
        assert_eq!(sent.subject, "[CRITICAL] Shop: Shop page 01 is failing");
        assert!(sent.text.contains("details details"));
    }

    #[test]
    fn a_group_of_emails_is_one_compact_message_with_the_widest_ack_all_link() {
        let payloads: Vec<OutboxPayload> = (2..=4)
            .map(|id| email(id, "bob@example.com", "opened", ack_all(id as usize)))
            .collect();
        let sent = emails(&payloads).unwrap();
        assert_eq!(sent.subject, "[CRITICAL] 3 alerts failing — Shop");
        assert_eq!(sent.message_id, "alert-2@test", "the first one's thread");
        assert_eq!(sent.to, vec![(None, "bob@example.com".to_string())]);
        assert!(!sent.text.contains("details details"), "{}", sent.text);
        assert_eq!(sent.text.matches("/ack/").count(), 1);
        assert!(sent.text.contains("http://golive.test/ack/token-4"));
        assert!(sent.html.unwrap().contains(">Acknowledge all 4</a>"));
    }

    #[test]
    fn rows_from_an_older_golive_are_listed_by_subject() {
        let mut payloads: Vec<OutboxPayload> = (1..=2)
            .map(|id| email(id, "bob@example.com", "resolved", None))
            .collect();
        if let OutboxPayload::Email { group, .. } = &mut payloads[1] {
            *group = None;
        }
        let sent = emails(&payloads).unwrap();
        assert!(
            sent.text
                .starts_with("2 notifications together:\n- [CRITICAL]")
        );
        assert!(!sent.text.contains("details details"));
    }

    #[test]
    fn a_group_of_chat_messages_is_one_post_with_a_line_per_alert_and_every_mention_once() {
        let payloads: Vec<OutboxPayload> = (1..=3)
            .map(|id| {
                OutboxPayload::webhook(WebhookMessage {
                    text: format!("*[CRITICAL] Shop*: Shop page {id:02} is failing\nlong"),
                    json: GoliveBody::from_value(serde_json::json!({"alert": {"id": id}})),
                })
                .with_group(GroupItem {
                    launch: "Shop".into(),
                    line: line(id, "opened"),
                    ack_all: None,
                    mentions: vec!["@bob".into()],
                })
            })
            .collect();
        let post = webhooks(&payloads).unwrap();
        assert_eq!(
            post.text,
            "*[CRITICAL] 3 alerts failing — Shop*\n\
             • #1 Shop page 01: status 503 (expected 2xx); since 21:00:00 (5 s)\n\
             • #2 Shop page 02: status 503 (expected 2xx); since 21:00:00 (5 s)\n\
             • #3 Shop page 03: status 503 (expected 2xx); since 21:00:00 (5 s)\n\
             Ack all: `golive ack 1 2 3`\ncc @bob"
        );
        let body = post.json.to_value().unwrap();
        assert_eq!(body["count"], 3);
        assert_eq!(body["event"], "opened");
        assert_eq!(body["alerts"][2]["alert"]["id"], 3);
    }
}
