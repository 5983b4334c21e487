//! The messages golive sends, as plain data: an email, a chat/webhook post (its `format = "golive"`
//! body typed as [`GoliveBody`], one variant per kind, written byte for byte as earlier versions
//! wrote it and read back from old outbox rows, or kept as stored when it does not decode), alerts
//! for an Alertmanager, a rollback-hook run, what a message contributes when merged with others of
//! its burst ([`GroupItem`]) — and the outbox's typed view of them ([`OutboxPayload`],
//! [`OutboxKind`]). The engine renders them, the store keeps them (serialized once, as JSON), the
//! dispatcher delivers them; living here, below all three, they tie none of them to another.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::core::runbook::LateKind;
use crate::domain::Phase;
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
    pub json: GoliveBody,
}

/// The JSON body a `golive`-format webhook posts, one variant per `kind` (see docs/alerting.md).
///
/// Written as a JSON object whose keys are in alphabetical order, `kind` among them: the bytes
/// golive posted (and stored in the outbox) when these bodies were built with `json!`, so
/// receivers and old outbox rows see no change. Reading dispatches on `kind`; a body that does
/// not read back to exactly what was stored (a shape of another golive version) is kept as
/// [`GoliveBody::Other`] and delivered as stored, so a queued page is never lost.
#[derive(Debug, Clone, PartialEq)]
pub enum GoliveBody {
    /// An alert's message: `kind` is `opened`, `escalated`, `repeat`, `reopened`,
    /// `acknowledged` or `resolved`.
    Alert(Box<AlertBody>),
    /// Several messages of one burst in one post (`kind = "group"`).
    Group(GroupBody),
    /// golive's own trouble (`kind = "warning"`).
    Warning(WarningBody),
    /// `golive notify test` (`kind = "test"`).
    Test(TestBody),
    /// A runbook step is late (`kind = "runbook_late"`).
    RunbookLate(RunbookLateBody),
    /// A stakeholder update (`kind = "update"`).
    Update(UpdateBody),
    /// No golive form: a notice sent by email only. Posted as `null`.
    None,
    /// A stored body none of the above reads back unchanged (read from old outbox rows only).
    Other(serde_json::Value),
}

/// The `golive` body of an alert's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertBody {
    /// The message kind: `opened`, `escalated`, `repeat`, `reopened`, `acknowledged`, `resolved`.
    pub kind: String,
    pub launch: String,
    pub alert: AlertFacts,
    pub check: Option<CheckFacts>,
    /// The value as people read it, e.g. `4.2 % (fails above 2 %)`.
    pub value: Option<String>,
    pub value_now: Option<f64>,
    pub value_at_opening: Option<f64>,
    pub phase: Phase,
    pub level: usize,
    pub risks: Vec<RiskFacts>,
    pub rollback_recommended: bool,
    pub rollback_procedure: Option<String>,
    pub recipients: Vec<String>,
    pub also_told: Vec<String>,
    pub next_level: Option<String>,
    pub steps_running: Vec<String>,
    pub note: Option<String>,
    pub status_url: String,
    pub acknowledge: HowToAcknowledge,
    pub sent_at: Timestamp,
}

/// The alert itself, in an [`AlertBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertFacts {
    pub id: i64,
    pub key: String,
    pub title: String,
    pub severity: Severity,
    pub reason: String,
    pub opened_at: Timestamp,
    pub acknowledged: Option<AcknowledgementFacts>,
    pub resolved_at: Option<Timestamp>,
}

/// Who took the alert, when, and until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgementFacts {
    pub by: String,
    pub at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// The alert's check, in an [`AlertBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckFacts {
    pub id: String,
    pub name: String,
    /// `http`, `prometheus`, ...
    pub kind: String,
    /// What is probed, e.g. `GET https://shop.example/health`.
    pub probes: String,
}

/// A risk of the plan the alert relates to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskFacts {
    pub id: String,
    pub title: String,
    pub contingency: String,
}

/// How to acknowledge the alert: the command and the API path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HowToAcknowledge {
    pub cli: String,
    pub api: String,
}

/// Several posts merged into one: with the group's launch and event when the messages carried
/// what they contribute to a group, else the bodies only (rows of an older golive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroupBody {
    Merged {
        /// The outbox kind of the group's first line (`opened`, `resolved`, ...).
        event: Option<String>,
        launch: String,
        count: usize,
        alerts: Vec<GoliveBody>,
    },
    Unmerged {
        count: usize,
        alerts: Vec<GoliveBody>,
    },
}

/// golive's own trouble: a message (a failed delivery, a channel that cannot be used), or which
/// checks' state can no longer be told and which can again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WarningBody {
    Message {
        launch: String,
        message: String,
    },
    Blind {
        launch: String,
        unknown: Vec<BlindCheck>,
        /// Check ids whose state golive can tell again.
        recovered: Vec<String>,
    },
}

/// A check whose state golive can no longer tell, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlindCheck {
    pub check: String,
    pub reason: String,
}

/// The body of `golive notify test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestBody {
    pub launch: String,
    pub channel: String,
    pub message: String,
}

/// A runbook step is late.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookLateBody {
    pub launch: String,
    /// The step's id.
    pub step: String,
    pub late: LateKind,
    /// The lateness level reached (1: the owner, 2: the escalation).
    pub level: u8,
    pub late_seconds: i64,
}

/// A stakeholder update, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum UpdateBody {
    /// The launch entered `phase` at `since`.
    Phase {
        launch: String,
        phase: Phase,
        since: Timestamp,
    },
    /// `golive update "TEXT"`.
    Manual {
        launch: String,
        phase: Phase,
        text: String,
        author: String,
    },
}

impl GoliveBody {
    /// golive's own trouble in a sentence or a few (`kind = "warning"`).
    pub fn warning(launch: &str, message: &str) -> GoliveBody {
        GoliveBody::Warning(WarningBody::Message {
            launch: launch.to_string(),
            message: message.to_string(),
        })
    }

    /// The `kind` the body is written with (none for [`GoliveBody::None`] and
    /// [`GoliveBody::Other`], which are written as they are).
    fn kind(&self) -> Option<&str> {
        match self {
            GoliveBody::Alert(body) => Some(&body.kind),
            GoliveBody::Group(_) => Some("group"),
            GoliveBody::Warning(_) => Some("warning"),
            GoliveBody::Test(_) => Some("test"),
            GoliveBody::RunbookLate(_) => Some("runbook_late"),
            GoliveBody::Update(_) => Some("update"),
            GoliveBody::None | GoliveBody::Other(_) => None,
        }
    }

    /// The body as a JSON value: an object with `kind`, keys in alphabetical order.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut value = match self {
            GoliveBody::Alert(body) => serde_json::to_value(body)?,
            GoliveBody::Group(body) => serde_json::to_value(body)?,
            GoliveBody::Warning(body) => serde_json::to_value(body)?,
            GoliveBody::Test(body) => serde_json::to_value(body)?,
            GoliveBody::RunbookLate(body) => serde_json::to_value(body)?,
            GoliveBody::Update(body) => serde_json::to_value(body)?,
            GoliveBody::None => serde_json::Value::Null,
            GoliveBody::Other(value) => value.clone(),
        };
        if let (Some(kind), Some(object)) = (self.kind(), value.as_object_mut()) {
            object.insert("kind".into(), kind.into());
        }
        Ok(value)
    }

    /// The typed body a stored JSON value reads as: by its `kind`, and only when it is written
    /// back byte for byte as stored; else [`GoliveBody::Other`].
    pub fn from_value(value: serde_json::Value) -> GoliveBody {
        fn typed<T: serde::de::DeserializeOwned>(
            value: &serde_json::Value,
            wrap: fn(T) -> GoliveBody,
        ) -> Option<GoliveBody> {
            serde_json::from_value(value.clone()).ok().map(wrap)
        }
        if value.is_null() {
            return GoliveBody::None;
        }
        let read = match value.get("kind").and_then(serde_json::Value::as_str) {
            Some("group") => typed(&value, GoliveBody::Group),
            Some("warning") => typed(&value, GoliveBody::Warning),
            Some("test") => typed(&value, GoliveBody::Test),
            Some("runbook_late") => typed(&value, GoliveBody::RunbookLate),
            Some("update") => typed(&value, GoliveBody::Update),
            Some(_) => typed(&value, |body: AlertBody| GoliveBody::Alert(Box::new(body))),
            None => None,
        };
        match read {
            Some(body) if body.to_value().ok().as_ref() == Some(&value) => body,
            _ => GoliveBody::Other(value),
        }
    }
}

impl Serialize for GoliveBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for GoliveBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(GoliveBody::from_value)
    }
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

/// What a pager service is asked to do with the incident of one golive alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagerAction {
    /// Open it, or update it when it is open (a later level, an acknowledgement that lapsed).
    Trigger,
    Acknowledge,
    Resolve,
}

/// A step in the life of one golive alert for a pager service (PagerDuty, Opsgenie): what to do,
/// the alert's stable key there, the one-line summary and every fact of the alert's message. Each
/// sender turns it into its vendor's request (`notify::pagerduty`, `notify::opsgenie`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PagerEvent {
    pub action: PagerAction,
    /// PagerDuty's `dedup_key`, Opsgenie's `alias`: [`pager_key`] of the launch and the alert.
    pub key: String,
    /// The message's subject, e.g. `[ESCALATED L2] Checkout error rate — Web shop 2.0`.
    pub summary: String,
    /// The alert's message as the `golive` webhook format carries it.
    pub alert: Box<AlertBody>,
}

/// The longest launch part of a [`pager_key`].
const PAGER_KEY_LAUNCH_MAX: usize = 64;

/// The key of alert `alert_id` of `launch` at a pager service, stable for the alert's life:
/// `golive-<launch in lowercase letters, digits and dashes>-<alert id>`, e.g.
/// `golive-web-shop-2-0-12` (at most 90 characters: within PagerDuty's 255 and Opsgenie's 512).
pub fn pager_key(launch: &str, alert_id: i64) -> String {
    let mut slug = String::new();
    for character in launch.chars().flat_map(char::to_lowercase) {
        if character.is_ascii_alphanumeric() {
            slug.push(character);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= PAGER_KEY_LAUNCH_MAX {
            break;
        }
    }
    let slug = match slug.trim_end_matches('-') {
        "" => "launch",
        slug => slug,
    };
    format!("golive-{slug}-{alert_id}")
}

/// The alert a pager service's key names, when it is a key of `launch` ([`pager_key`]); `None`
/// for keys of other launches and of other tools.
pub fn alert_of_pager_key(launch: &str, key: &str) -> Option<i64> {
    let (_, id) = key.rsplit_once('-')?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    (pager_key(launch, id) == key).then_some(id)
}

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
    /// A step in an alert's life for a pager service (PagerDuty, Opsgenie).
    Pager {
        event: PagerEvent,
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
            json: GoliveBody::from_value(serde_json::json!({"kind": "test"})),
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

    /// Outbox rows as golive wrote them when the `golive` bodies were built with `json!`: every
    /// kind, byte for byte, and one shape no variant reads.
    const OLD_ROWS: [&str; 9] = [
        r#"{"type":"webhook","message":{"text":"page","json":{"acknowledge":{"api":"/api/v1/alerts/1/ack","cli":"golive ack 1"},"alert":{"acknowledged":null,"id":1,"key":"check:checkout","opened_at":"2030-01-01T20:00:00Z","reason":"status 503","resolved_at":null,"severity":"critical","title":"Checkout"},"also_told":[],"check":{"id":"checkout","kind":"http","name":"Checkout","probes":"GET https://shop.example/"},"kind":"opened","launch":"Shop","level":1,"next_level":"level 2 at 21:05:00","note":null,"phase":"hypercare","recipients":["Bob"],"risks":[{"contingency":"switch","id":"pay","title":"Payments"}],"rollback_procedure":null,"rollback_recommended":false,"sent_at":"2030-01-01T20:00:05Z","status_url":"https://shop.example/#alert-1","steps_running":[],"value":null,"value_at_opening":0.5,"value_now":4.25}}}"#,
        r#"{"type":"webhook","message":{"text":"ack","json":{"acknowledge":{"api":"/api/v1/alerts/1/ack","cli":"golive ack 1"},"alert":{"acknowledged":{"at":"2030-01-01T20:01:00Z","by":"bob","expires_at":null},"id":1,"key":"check:checkout","opened_at":"2030-01-01T20:00:00Z","reason":"status 503","resolved_at":null,"severity":"warning","title":"Checkout"},"also_told":["Ann"],"check":null,"kind":"acknowledged","launch":"Shop","level":1,"next_level":null,"note":"on it","phase":"hypercare","recipients":["Bob"],"risks":[],"rollback_procedure":null,"rollback_recommended":false,"sent_at":"2030-01-01T20:01:00Z","status_url":"https://shop.example/#alert-1","steps_running":["deploy"],"value":"4 %","value_at_opening":null,"value_now":null}}}"#,
        r#"{"type":"webhook","message":{"text":"group","json":{"alerts":[{"kind":"test","launch":"Shop"}],"count":2,"event":"opened","kind":"group","launch":"Shop"}}}"#,
        r#"{"type":"webhook","message":{"text":"group","json":{"alerts":[null],"count":2,"kind":"group"}}}"#,
        r#"{"type":"webhook","message":{"text":"warn","json":{"kind":"warning","launch":"Shop","message":"store failing"}}}"#,
        r#"{"type":"webhook","message":{"text":"warn","json":{"kind":"warning","launch":"Shop","recovered":["a"],"unknown":[{"check":"b","reason":"down"}]}}}"#,
        r#"{"type":"webhook","message":{"text":"test","json":{"channel":"chat","kind":"test","launch":"Shop","message":"hi"}}}"#,
        r#"{"type":"webhook","message":{"text":"late","json":{"kind":"runbook_late","late":"not_started","late_seconds":480,"launch":"Shop","level":1,"step":"deploy"}}}"#,
        r#"{"type":"webhook","message":{"text":"update","json":{"author":"Ann","event":"manual","kind":"update","launch":"Shop","phase":"hypercare","text":"done"}}}"#,
    ];

    #[test]
    fn an_old_outbox_rows_golive_body_still_reads_and_is_delivered_unchanged() {
        for row in OLD_ROWS.into_iter().chain([
            r#"{"type":"webhook","message":{"text":"phase","json":{"event":"phase","kind":"update","launch":"Shop","phase":"hypercare","since":"2030-01-01T20:00:00Z"}}}"#,
            r#"{"type":"webhook","message":{"text":"odd","json":{"kind":"opened","alert":{"id":1}}}}"#,
            r#"{"text":"untagged","json":null}"#,
        ]) {
            let stored: serde_json::Value = serde_json::from_str(row).unwrap();
            let was = &stored.get("message").unwrap_or(&stored)["json"];
            let OutboxPayload::Webhook { message, .. } = serde_json::from_str(row).unwrap() else {
                panic!("not a post: {row}");
            };
            // What the webhook posts, and what the outbox stores again, are the old bytes.
            assert_eq!(
                serde_json::to_string(&message.json).unwrap(),
                serde_json::to_string(was).unwrap(),
                "{row}"
            );
        }
        let typed = |row: &str| match serde_json::from_str::<OutboxPayload>(row).unwrap() {
            OutboxPayload::Webhook { message, .. } => message.json,
            _ => panic!("not a post"),
        };
        for row in OLD_ROWS {
            assert!(!matches!(typed(row), GoliveBody::Other(_)), "{row}");
        }
        assert!(
            matches!(typed(OLD_ROWS[0]), GoliveBody::Alert(alert) if alert.value_now == Some(4.25))
        );
        assert!(matches!(
            typed(
                r#"{"type":"webhook","message":{"text":"odd","json":{"kind":"opened","alert":{"id":1}}}}"#
            ),
            GoliveBody::Other(_)
        ));
    }

    #[test]
    fn a_pager_key_names_its_alert_only_for_its_own_launch() {
        let key = pager_key("Web shop 2.0", 12);
        assert_eq!(key, "golive-web-shop-2-0-12");
        assert_eq!(alert_of_pager_key("Web shop 2.0", &key), Some(12));
        assert_eq!(alert_of_pager_key("Other shop", &key), None);
        assert_eq!(
            alert_of_pager_key("Web shop 2.0", "golive-web-shop-2-0-x"),
            None
        );
        assert_eq!(alert_of_pager_key("Web shop 2.0", "d3640fbd41094207"), None);
        // A pager row reads back as written, beside the older kinds.
        let row = r#"{"type":"pager","event":{"action":"resolve","key":"golive-shop-1","summary":"[RESOLVED] x","alert":"#;
        let OutboxPayload::Webhook { message, .. } =
            serde_json::from_str::<OutboxPayload>(OLD_ROWS[0]).unwrap()
        else {
            panic!("not a post");
        };
        let GoliveBody::Alert(alert) = message.json else {
            panic!("not an alert");
        };
        let stored = format!("{row}{}}}}}", serde_json::to_string(&alert).unwrap());
        let payload: OutboxPayload = serde_json::from_str(&stored).unwrap();
        assert!(
            matches!(&payload, OutboxPayload::Pager { event } if event.action == PagerAction::Resolve && event.alert.alert.id == 1)
        );
        assert_eq!(serde_json::to_string(&payload).unwrap(), stored);
        assert!(pager_key(&"Ü".repeat(300), 1).len() <= 90);
        assert!(pager_key(&"a b ".repeat(300), i64::MAX).len() <= 90);
    }

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in OutboxKind::ALL {
            assert_eq!(OutboxKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(OutboxKind::parse("nonsense"), None);
    }
}
