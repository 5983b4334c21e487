//! Delivering notifications: email (SMTP through lettre, or `.eml` files in an outbox folder when
//! no SMTP server is configured), chat/HTTP webhooks, and forwarding to an existing Alertmanager.
//!
//! This layer only delivers what it is given. What to say, to whom and when is decided by the
//! engine and written to the store's outbox; the dispatcher reads the outbox and calls these
//! senders, retrying what failed with a retryable error.
//!
//! # Public API
//! - [`EmailTransport`] ([`email`]): `new(smtp, outbox_dir)`, `with_root_certificates(pem)`,
//!   `send(&OutgoingEmail, now)` (`now` dates it: the daemon's clock), `test_connection()`,
//!   `describe()`, `setup_problem()`, `is_outbox()`.
//!   Extra CA certificates for SMTP TLS also come from the file named by `GOLIVE_SMTP_CA_FILE`.
//! - [`WebhookSender`] ([`webhook`]): `new(&WebhookChannel, reqwest::Client)`,
//!   `send(&WebhookMessage)`, `describe()`, `setup_problem()`.
//! - [`AlertmanagerForwarder`] ([`alertmanager`]): `new(url, timeout, reqwest::Client)`,
//!   `send(&[ForwardedAlert])`, `describe()`; and the intake side, [`WebhookPayload`] (Alertmanager's
//!   webhook notification, version 4) with [`alertmanager::WebhookAlert`] and
//!   [`alertmanager::AlertStatus`].
//! - [`merge`]: the notifications of one group as one compact message (`emails`, `webhooks` over
//!   outbox payloads; `with_group_item` for the engine writing them).
//! - [`secrets::read_secret`]: a [`SecretSource`](crate::plan::SecretSource) to a
//!   [`Secret`](crate::domain::Secret), with a reason that never contains the value.
//! - The values they take and give: [`OutgoingEmail`], [`InlineImage`], [`WebhookMessage`],
//!   [`ForwardedAlert`], [`Delivered`], [`DeliveryError`].
//!
//! Every sender is built once from the plan and never fails to build: a missing secret is
//! remembered and every send returns it as a [`DeliveryError::Permanent`] (its `setup_problem()`
//! says so at start). No error text contains a secret or a webhook URL.

pub mod alertmanager;
pub mod dispatcher;
pub mod email;
mod http;
pub mod merge;
mod outbox;
pub use crate::secrets;
pub mod webhook;

pub use alertmanager::{AlertmanagerForwarder, WebhookPayload};
pub use email::EmailTransport;
pub use webhook::WebhookSender;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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

/// A successful delivery, with what the server said (SMTP reply, HTTP status line).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub answer: String,
}

/// A failed delivery, with what the server said or why it could not be reached.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again later: connection errors, timeouts, SMTP 4xx, HTTP 5xx/429.
    #[error("{0}")]
    Retryable(String),
    /// Will fail the same way again: SMTP 5xx, HTTP 4xx, a missing secret, a bad address.
    #[error("{0}")]
    Permanent(String),
}

impl DeliveryError {
    /// Whether the delivery is worth trying again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Retryable(_))
    }
}
