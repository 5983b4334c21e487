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
//!   `describe()`, `setup_problem()`, `writes_eml_files()`.
//!   Extra CA certificates for SMTP TLS also come from the file named by `GOLIVE_SMTP_CA_FILE`.
//! - [`WebhookSender`] ([`webhook`]): `new(&WebhookChannel, reqwest::Client)`,
//!   `send(&WebhookMessage)`, `describe()`, `setup_problem()`; the bodies of the `teams` and
//!   `discord` formats are made by [`teams`] and [`discord`] from one [`chat_card::ChatCard`].
//! - [`AlertmanagerForwarder`] ([`alertmanager`]): `new(url, timeout, reqwest::Client)`,
//!   `send(&[ForwardedAlert])`, `describe()`; and the intake side, [`WebhookPayload`] (Alertmanager's
//!   webhook notification, version 4) with [`alertmanager::WebhookAlert`] and
//!   [`alertmanager::AlertStatus`].
//! - [`PagerDutySender`] ([`pagerduty`]): `new(&PagerDutyChannel, reqwest::Client)`,
//!   `send(&PagerEvent)` (Events API v2), `webhook_secret()`; and the intake side,
//!   [`pagerduty::WebhookDelivery`] (V3 webhooks) with [`pagerduty::verify_signature`].
//! - [`OpsgenieSender`] ([`opsgenie`]): `new(&OpsgenieChannel, reqwest::Client)`,
//!   `send(&PagerEvent)` (Alert API: create, acknowledge, close by alias).
//! - [`merge`]: the notifications of one group as one compact message (`emails`, `webhooks` over
//!   outbox payloads; `with_group_item` for the engine writing them).
//! - The values they take and give: [`OutgoingEmail`], [`InlineImage`], [`WebhookMessage`],
//!   [`ForwardedAlert`], [`Delivered`], [`DeliveryError`].
//!
//! Every sender is built from the plan in force ([`live`]: again after a reload) and never fails
//! to build: a missing secret is remembered and every send returns it as a
//! [`DeliveryError::Permanent`] (its `setup_problem()` says so at start). No error text contains a secret or a webhook URL.

pub mod alertmanager;
pub mod chat_card;
pub mod discord;
pub mod dispatcher;
pub mod email;
mod eml_folder;
mod http;
pub mod lanes;
pub mod live;
pub mod merge;
pub mod opsgenie;
pub mod outcome;
pub mod pagerduty;
pub mod teams;
pub mod webhook;

pub use alertmanager::{AlertmanagerForwarder, WebhookPayload};
pub use email::EmailTransport;
pub use opsgenie::OpsgenieSender;
pub use outcome::{DeliveryReport, DispatchLink};
// The messages themselves are plain data in `core::message`, below the store that keeps them.
pub use crate::core::message::{
    AckAll, ForwardedAlert, GroupItem, GroupLine, HookRun, InlineImage, OutboxKind, OutboxPayload,
    OutgoingEmail, PagerAction, PagerEvent, ROLLBACK_HOOK, WebhookMessage,
};
pub use pagerduty::PagerDutySender;
pub use webhook::WebhookSender;

/// A successful delivery, with what the server said (SMTP reply, HTTP status line).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub answer: String,
}

/// A failed delivery, with what the server said or why it could not be reached.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again later, and the channel is in trouble: connection errors, timeouts,
    /// TLS handshakes, SMTP 421, HTTP 5xx/429 (without `Retry-After`).
    #[error("{0}")]
    Retryable(String),
    /// Worth trying again later, but only this message was refused for now; the channel works:
    /// an SMTP 4xx reply other than 421 (greylisting, a full mailbox, a rate limit per sender).
    #[error("{0}")]
    Deferred(String),
    /// The server answered HTTP 429 or 503 with `Retry-After`: nothing more goes to the channel
    /// before `wait` has passed (already capped, see `http::RETRY_AFTER_MAX`), and this message
    /// is tried again no sooner. The server answered, so the channel is not taken as down.
    #[error("{answer}")]
    RateLimited {
        answer: String,
        wait: std::time::Duration,
    },
    /// Will fail the same way again: SMTP 5xx, HTTP 4xx, a missing secret, a bad address.
    #[error("{0}")]
    Permanent(String),
}

impl DeliveryError {
    /// Whether the delivery is worth trying again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DeliveryError::Retryable(_)
                | DeliveryError::Deferred(_)
                | DeliveryError::RateLimited { .. }
        )
    }

    /// How long the server asked golive to wait before the next attempt (`Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            DeliveryError::RateLimited { wait, .. } => Some(*wait),
            _ => None,
        }
    }

    /// Whether the failure says the channel itself is in trouble (not just this message).
    pub fn is_channel_trouble(&self) -> bool {
        matches!(self, DeliveryError::Retryable(_))
    }
}
