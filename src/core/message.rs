//! The messages golive sends, as plain data: an email, a chat/webhook post, alerts for an
//! Alertmanager, a rollback-hook run, what a message contributes when merged with others of its
//! burst ([`GroupItem`]) — and the outbox's typed view of them ([`OutboxPayload`], [`OutboxKind`]). The engine renders them, the store keeps them (serialized once, as JSON), the
//! dispatcher delivers them; living here, below all three, they tie none of them to another.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::plan::checks::Severity;

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// Recipients as (display name, address).
    pub to: Vec<(Option<String>, String)>,
    pub subject: String,
    /// The plain-text part (always present).
    pub text: String,
    /// The HTML part, when there is one (multipart/alternative with the text).
    pub html: Option<String>,
    /// `Message-ID` without angle brackets, e.g. `alert-12.3@golive.shop`.
    pub message_id: String,
    /// `In-Reply-To` (the thread's first message), without angle brackets.
    pub in_reply_to: Option<String>,
    /// `References`, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// Images shown inline in the HTML (`cid:` references), e.g. report charts.
    pub inline_images: Vec<InlineImage>,
    /// An iCalendar request (`text/calendar; method=REQUEST`), sent as the last alternative so
    /// mail clients show the email as an invitation (the post-launch review).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
}

/// An image attached with a Content-ID for the HTML part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InlineImage {
    /// Without angle brackets; the HTML refers to it as `cid:<content_id>`.
    pub content_id: String,
    /// e.g. `image/png`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What a webhook posts: `text` for the `slack` format (`{"text": ...}`), `json` for the `golive`
/// format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookMessage {
    pub text: String,
    pub json: serde_json::Value,
}

/// One alert as Alertmanager's `POST /api/v2/alerts` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardedAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: Timestamp,
    /// Set when resolved.
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

/// What a rollback-hook run is given: why, by whom, whether a person decided (as
/// `GOLIVE_ROLLBACK_REASON` and `GOLIVE_ROLLBACK_BY`, or the webhook's JSON body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    pub reason: String,
    pub by: String,
    /// Run by the plan's `auto = true`, without a person.
    #[serde(default)]
    pub automatic: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

/// The outbox channel of rollback-hook runs (not a plan channel): the engine queues runs on it,
/// the dispatcher runs the hook for them, and metrics count its deliveries like a channel's.
pub const ROLLBACK_HOOK: &str = "rollback-hook";

/// One alert's line in a grouped message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupLine {
    pub alert_id: i64,
    /// The outbox kind (`report::alert_message::MessageKind::as_str`): `opened`, `resolved`, ...
    pub kind: String,
    /// The escalation level notified (for escalations and reminders).
    pub level: usize,
    pub severity: Severity,
    /// The alert's title (the check's name).
    pub title: String,
    /// What failed, on one line, shortened.
    pub reason: String,
    /// Since when, how long it lasted, or who took it, in the launch's time zone.
    pub when: String,
    /// Where the full details are: the alert's row on the status page while it is open, its
    /// JSON once resolved.
    pub details_url: String,
}

/// The one link that acknowledges every open alert of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckAll {
    /// The confirmation page (`{public_url}/ack/{token}`): opening it changes nothing.
    pub url: String,
    /// How many alerts the group held when the link was made (the page lists them exactly).
    pub count: usize,
}

/// What one notification contributes when it is merged with others of its group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupItem {
    pub launch: String,
    pub line: GroupLine,
    /// For open alerts by email: the group's acknowledge-all link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_all: Option<AckAll>,
    /// Chat handles to mention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

/// What an outbox row carries, by channel kind: the message, and for messages that may be merged
/// with others of their burst what they contribute to the group. Stored as JSON tagged with
/// `type`; rows written before the tag existed (the bare message) are still read.
///
/// The derive (`remote = "Self"`) makes the tagged form as inherent functions; the trait impls
/// below use them, and reading adds the untagged old rows, so the variants are written once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", tag = "type", rename_all = "snake_case")]
pub enum OutboxPayload {
    Email {
        message: OutgoingEmail,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupItem>,
    },
    Webhook {
        message: WebhookMessage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupItem>,
    },
    Alertmanager {
        alerts: Vec<ForwardedAlert>,
    },
    RollbackHook {
        run: HookRun,
    },
}

impl Serialize for OutboxPayload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        OutboxPayload::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for OutboxPayload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The tagged form, and the untagged one of rows written by golive before the tag.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Tagged(#[serde(deserialize_with = "tagged")] Box<OutboxPayload>),
            Email(OutgoingEmail),
            Webhook(WebhookMessage),
            Alertmanager(Vec<ForwardedAlert>),
            RollbackHook(HookRun),
        }
        /// The tagged form, as the derive reads it (boxed: it is the largest variant).
        fn tagged<'de, D: serde::Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Box<OutboxPayload>, D::Error> {
            OutboxPayload::deserialize(deserializer).map(Box::new)
        }
        Ok(match Stored::deserialize(deserializer)? {
            Stored::Tagged(payload) => *payload,
            Stored::Email(message) => OutboxPayload::email(message),
            Stored::Webhook(message) => OutboxPayload::webhook(message),
            Stored::Alertmanager(alerts) => OutboxPayload::Alertmanager { alerts },
            Stored::RollbackHook(run) => OutboxPayload::RollbackHook { run },
        })
    }
}

impl OutboxPayload {
    /// An email on its own.
    pub fn email(message: OutgoingEmail) -> OutboxPayload {
        OutboxPayload::Email {
            message,
            group: None,
        }
    }

    /// A chat/webhook post on its own.
    pub fn webhook(message: WebhookMessage) -> OutboxPayload {
        OutboxPayload::Webhook {
            message,
            group: None,
        }
    }

    /// The same message with what it contributes to its group (emails and posts only).
    pub fn with_group(self, item: GroupItem) -> OutboxPayload {
        match self {
            OutboxPayload::Email { message, .. } => OutboxPayload::Email {
                message,
                group: Some(item),
            },
            OutboxPayload::Webhook { message, .. } => OutboxPayload::Webhook {
                message,
                group: Some(item),
            },
            other => other,
        }
    }

    /// The addresses an email goes to, as (display name, address); none for other payloads.
    pub fn email_recipients(&self) -> &[(Option<String>, String)] {
        match self {
            OutboxPayload::Email { message, .. } => &message.to,
            _ => &[],
        }
    }
}

/// Why an outbox row was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutboxKind {
    /// An alert's first notification (level 1).
    Opened,
    /// A later escalation level.
    Escalated,
    /// The last level, again.
    Repeat,
    /// An acknowledgement lapsed and the alert pages again.
    Reopened,
    Acknowledged,
    Resolved,
    /// The rollback procedure, recommended.
    Rollback,
    /// A run of the rollback hook.
    RollbackHook,
    /// golive's own trouble (a failed delivery, an unreachable metrics source).
    Warning,
    /// An action item's reminder.
    Reminder,
    /// A daily or final report.
    Report,
    /// A runbook notice (a late or failed step).
    Runbook,
    /// A stakeholder update (a phase change, or by hand).
    Update,
}

impl OutboxKind {
    pub const ALL: [OutboxKind; 13] = [
        OutboxKind::Opened,
        OutboxKind::Escalated,
        OutboxKind::Repeat,
        OutboxKind::Reopened,
        OutboxKind::Acknowledged,
        OutboxKind::Resolved,
        OutboxKind::Rollback,
        OutboxKind::RollbackHook,
        OutboxKind::Warning,
        OutboxKind::Reminder,
        OutboxKind::Report,
        OutboxKind::Runbook,
        OutboxKind::Update,
    ];

    /// The name stored and shown (`opened`, `rollback-hook`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Opened => "opened",
            OutboxKind::Escalated => "escalated",
            OutboxKind::Repeat => "repeat",
            OutboxKind::Reopened => "reopened",
            OutboxKind::Acknowledged => "acknowledged",
            OutboxKind::Resolved => "resolved",
            OutboxKind::Rollback => "rollback",
            OutboxKind::RollbackHook => "rollback-hook",
            OutboxKind::Warning => "warning",
            OutboxKind::Reminder => "reminder",
            OutboxKind::Report => "report",
            OutboxKind::Runbook => "runbook",
            OutboxKind::Update => "update",
        }
    }

    /// The kind a stored name means.
    pub fn parse(name: &str) -> Option<OutboxKind> {
        OutboxKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for OutboxKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_tagged_and_old_untagged_rows_are_still_read() {
        let message = WebhookMessage {
            text: "hello".into(),
            json: serde_json::json!({"kind": "test"}),
        };
        let payload = OutboxPayload::webhook(message.clone());
        let stored = serde_json::to_string(&payload).unwrap();
        assert!(stored.contains("\"type\":\"webhook\""), "{stored}");
        assert_eq!(
            serde_json::from_str::<OutboxPayload>(&stored).unwrap(),
            payload
        );
        let old = serde_json::to_string(&message).unwrap();
        assert_eq!(
            serde_json::from_str::<OutboxPayload>(&old).unwrap(),
            payload
        );
        let hook = serde_json::json!({"reason": "errors", "by": "Alice", "automatic": false, "at": "2030-01-01T00:00:00Z"});
        assert!(matches!(
            serde_json::from_value::<OutboxPayload>(hook).unwrap(),
            OutboxPayload::RollbackHook { run } if run.reason == "errors" && run.by == "Alice"
        ));
        assert_eq!(
            serde_json::from_value::<OutboxPayload>(serde_json::json!([])).unwrap(),
            OutboxPayload::Alertmanager { alerts: Vec::new() }
        );
    }

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in OutboxKind::ALL {
            assert_eq!(OutboxKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(OutboxKind::parse("nonsense"), None);
    }
}
