//! The one place a rendered message becomes what each channel carries: an email (with its
//! Message-ID and thread), a chat/webhook post, or an outbox payload for every channel of the plan
//! that should carry it. Pure: the texts come rendered (`report::alert_message`,
//! `report::alert_group`, the engine's notices), the Message-IDs from [`MessageIds`].
//!
//! Every email golive writes is built by [`email`], so the rules hold everywhere: one Message-ID
//! per email from one maker, the alert's root first in `References`, `In-Reply-To` the message
//! it answers.

use super::alert_message::chat_escape;
use super::message_id::MessageIds;
use crate::core::message::{GoliveBody, OutboxPayload, OutgoingEmail, WebhookMessage};
use crate::plan::Plan;
use crate::plan::alerting::ChannelKind;
use crate::plan::recipients::Addressee;

/// A message for people, rendered, in the forms the channels take.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub subject: String,
    /// The plain-text part (always present).
    pub text: String,
    /// The HTML part, when there is one.
    pub html: Option<String>,
    /// What a chat channel posts (`slack` format).
    pub chat: String,
    /// What a webhook channel posts in the `golive` format.
    pub json: GoliveBody,
}

impl Notice {
    /// A plain notice: the chat line is the subject in bold followed by the text, both escaped
    /// for Slack (`&`, `<`, `>`), so names, reasons and notes in them cannot mention a channel or
    /// disguise a link.
    pub fn plain(subject: impl Into<String>, text: impl Into<String>, json: GoliveBody) -> Notice {
        let subject = subject.into();
        let text = text.into();
        Notice {
            chat: format!("*{}*\n{}", chat_escape(&subject), chat_escape(&text)),
            subject,
            text,
            html: None,
            json,
        }
    }
}

/// Where an email sits in a thread.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Thread {
    /// The thread's root, first in `References` (an alert's root is never sent itself).
    pub root: Option<String>,
    /// The message this one answers (`In-Reply-To`, and last in `References`).
    pub parent: Option<String>,
}

impl Thread {
    /// A later email about alert `alert_id` to `recipient`: in the alert's thread, answering the
    /// first email that recipient got about it.
    pub fn reply_about_alert(ids: &MessageIds, alert_id: i64, recipient: &str) -> Thread {
        Thread {
            root: Some(ids.alert_root(alert_id)),
            parent: Some(ids.alert_thread(alert_id, recipient)),
        }
    }

    /// The first email about alert `alert_id` (to anyone): it names the alert's root and starts
    /// the recipient's own thread.
    pub fn first_about_alert(ids: &MessageIds, alert_id: i64) -> Thread {
        Thread {
            root: Some(ids.alert_root(alert_id)),
            parent: None,
        }
    }
}

/// The email of `notice` to `to` with `message_id`, in `thread`.
pub fn email(
    to: Vec<(Option<String>, String)>,
    notice: &Notice,
    message_id: String,
    thread: Thread,
) -> OutgoingEmail {
    let mut references: Vec<String> = thread.root.into_iter().collect();
    if let Some(parent) = &thread.parent
        && !references.contains(parent)
    {
        references.push(parent.clone());
    }
    OutgoingEmail {
        to,
        subject: notice.subject.clone(),
        text: notice.text.clone(),
        html: notice.html.clone(),
        message_id,
        in_reply_to: thread.parent,
        references,
        inline_images: Vec::new(),
        calendar: None,
    }
}

/// The headers Outlook groups conversations by, for an email in a thread (`references` not
/// empty): `Thread-Topic`, the subject without a leading `[tag]` (the same in every message of an
/// alert), and `Thread-Index`, whose 16-byte GUID (bytes 6 to 21, from which Exchange derives the
/// conversation) is made from the thread's root, so every email of the thread shares it whatever
/// its subject says; bytes 1 to 5 are the high part of the sending time as a Windows FILETIME.
/// None for an email outside a thread.
pub fn outlook_thread_headers(
    subject: &str,
    references: &[String],
    now: jiff::Timestamp,
) -> Vec<(&'static str, String)> {
    use sha2::{Digest, Sha256};
    let Some(root) = references.first() else {
        return Vec::new();
    };
    let topic = match subject
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((_, core)) => core,
        None => subject,
    };
    // 100-ns intervals since 1601-01-01 UTC.
    let filetime = (now.as_nanosecond() / 100 + 116_444_736_000_000_000).max(0) as u64;
    let mut index = Vec::with_capacity(22);
    index.push(1u8);
    index.extend_from_slice(&filetime.to_be_bytes()[..5]);
    index.extend_from_slice(&Sha256::digest(root.as_bytes())[..16]);
    vec![
        ("Thread-Topic", topic.to_string()),
        ("Thread-Index", base64(&index)),
    ]
}

/// Standard base64 with padding (for the few bytes of a header).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (position, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if position <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The chat/webhook post of `notice`.
pub fn post(notice: &Notice) -> WebhookMessage {
    WebhookMessage {
        text: notice.chat.clone(),
        json: notice.json.clone(),
    }
}

/// Who an email goes to, as (display name, address), for the addressees that have an address.
pub fn mailboxes(addressees: &[Addressee]) -> Vec<(Option<String>, String)> {
    addressees
        .iter()
        .filter_map(|addressee| {
            addressee
                .email
                .clone()
                .map(|address| (Some(addressee.name.clone()), address))
        })
        .collect()
}

/// `notice` as outbox payloads for the plan's channels: one email to `to` (when anyone has an
/// address) through the first email channel, and a post on every webhook channel. Alertmanager
/// channels carry alerts only. The email's Message-ID is made from `what` by `ids`.
pub fn through_channels(
    plan: &Plan,
    ids: &MessageIds,
    to: &[(Option<String>, String)],
    notice: &Notice,
    what: &str,
) -> Vec<(String, OutboxPayload)> {
    let mut payloads = Vec::new();
    let mut emailed = false;
    for channel in &plan.alerting.channels {
        match &channel.kind {
            ChannelKind::Email { .. } if !to.is_empty() && !emailed => {
                emailed = true;
                payloads.push((
                    channel.id.clone(),
                    OutboxPayload::email(email(
                        to.to_vec(),
                        notice,
                        ids.fresh(what),
                        Thread::default(),
                    )),
                ));
            }
            ChannelKind::Webhook(_) => {
                payloads.push((channel.id.clone(), OutboxPayload::webhook(post(notice))));
            }
            _ => {}
        }
    }
    payloads
}

/// A stakeholder update as outbox payloads: one email to `to` (when anyone has an address)
/// through the plan's first email channel, in the launch's update thread, and a post on each of
/// `chat` (the `[updates] channels`). Never grouped with anything: each update is its own message.
pub fn update(
    plan: &Plan,
    ids: &MessageIds,
    to: &[(Option<String>, String)],
    chat: &[String],
    notice: &Notice,
) -> Vec<(String, OutboxPayload)> {
    let email_channel = plan
        .alerting
        .channels
        .iter()
        .find(|channel| matches!(channel.kind, ChannelKind::Email { .. }));
    let thread = Thread {
        root: Some(ids.once("updates")),
        parent: None,
    };
    let emails = email_channel.filter(|_| !to.is_empty()).map(|channel| {
        let sent = email(to.to_vec(), notice, ids.fresh("update"), thread);
        (channel.id.clone(), OutboxPayload::email(sent))
    });
    let posts = chat
        .iter()
        .map(|channel| (channel.clone(), OutboxPayload::webhook(post(notice))));
    emails.into_iter().chain(posts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice::plain(
            "[WARNING] Shop: golive cannot see",
            "The metrics source is unreachable.",
            GoliveBody::Warning(crate::core::message::WarningBody::Message {
                launch: "Shop".into(),
                message: "The metrics source is unreachable.".into(),
            }),
        )
    }

    #[test]
    fn an_email_in_a_thread_names_the_root_first_and_answers_its_parent() {
        let sent = email(
            vec![(None, "bob@example.com".into())],
            &notice(),
            "id-2@shop.example".into(),
            Thread {
                root: Some("alert-1.x@shop.example".into()),
                parent: Some("alert-1.bob@shop.example".into()),
            },
        );
        assert_eq!(
            sent.references,
            ["alert-1.x@shop.example", "alert-1.bob@shop.example"]
        );
        assert_eq!(
            sent.in_reply_to.as_deref(),
            Some("alert-1.bob@shop.example")
        );
        let alone = email(Vec::new(), &notice(), "id@x".into(), Thread::default());
        assert!(alone.references.is_empty() && alone.in_reply_to.is_none());
    }

    #[test]
    fn a_plain_notice_posts_mentions_and_links_of_its_text_as_plain_text() {
        let hostile = Notice::plain(
            "Step `<!channel>` late",
            "owner <@U123> & <https://evil.example|docs>",
            GoliveBody::None,
        );
        assert_eq!(
            post(&hostile).text,
            "*Step `&lt;!channel&gt;` late*\nowner &lt;@U123&gt; &amp; &lt;https://evil.example|docs&gt;"
        );
    }

    #[test]
    fn every_email_of_a_thread_carries_one_outlook_conversation_whatever_its_state() {
        let references = vec!["alert-1.root@shop.example".to_string()];
        let at = |seconds: i64| jiff::Timestamp::from_second(1_893_528_000 + seconds).unwrap();
        let page = outlook_thread_headers("[CRITICAL] Checkout — Shop", &references, at(0));
        let resolved = outlook_thread_headers("[RESOLVED] Checkout — Shop", &references, at(600));
        assert_eq!(page[0], ("Thread-Topic", "Checkout — Shop".to_string()));
        assert_eq!(page[0], resolved[0]);
        // 22 bytes are 32 base64 characters; the GUID part (the last 16 bytes) is shared.
        assert_eq!(page[1].1.len(), 32);
        assert_eq!(page[1].1[8..], resolved[1].1[8..]);
        let other = outlook_thread_headers(
            "[CRITICAL] Checkout — Shop",
            &["alert-2.root@shop.example".to_string()],
            at(0),
        );
        assert_ne!(page[1].1[8..], other[1].1[8..]);
        assert!(outlook_thread_headers("Daily report", &[], at(0)).is_empty());
        assert_eq!(base64(b"golive"), "Z29saXZl");
        assert_eq!(base64(b"go"), "Z28=");
        assert_eq!(base64(b"g"), "Zw==");
    }

    #[test]
    fn a_plain_notice_posts_its_subject_in_bold_then_the_text() {
        assert_eq!(
            post(&notice()).text,
            "*[WARNING] Shop: golive cannot see*\nThe metrics source is unreachable."
        );
    }
}
