//! What the dispatcher and the engine say to each other: the dispatcher reports how each delivery
//! went ([`DeliveryReport`]) through a [`Recorder`] the engine provides, and the engine — the only
//! writer — records it. Defined here, below both, so the dispatcher needs nothing of the engine.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc};

use super::DeliveryError;
use super::OutboxKind;
use super::lanes::LaneChange;
use crate::report::message_id::MessageIds;

/// One delivery attempt of one message (several grouped outbox rows go out as one message).
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    pub rows: Vec<i64>,
    pub channel: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the oldest of the rows was queued.
    pub queued_at: Timestamp,
    /// Why the rows were written.
    pub kind: OutboxKind,
    /// Not an outcome: the rollback hook is about to run (recorded first, so it never runs twice).
    pub hook_started: bool,
    pub alert_id: Option<i64>,
    /// The server's answer, or why it failed.
    pub result: Result<String, DeliveryError>,
    /// What this outcome changed about the channel: it went down, or came up again (then every
    /// message waiting for it is due at once).
    pub lane: LaneChange,
}

/// Records a delivery outcome (the engine's side); fails when it could not be recorded.
pub type Recorder = Arc<
    dyn Fn(DeliveryReport) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// What the dispatcher needs: a wake-up when notifications are queued, where to report outcomes,
/// golive's own trouble to send directly, and the Message-IDs of the emails it writes itself.
pub struct DispatchLink {
    pub outbox_written: Arc<Notify>,
    pub record: Recorder,
    /// golive's own trouble that cannot go through the outbox (the store is failing): sent
    /// directly, best effort, to the ops lead through every channel.
    pub trouble: mpsc::Receiver<String>,
    pub message_ids: MessageIds,
    /// Told of every turn of the dispatcher's loop (the heartbeat reads it).
    pub liveness: Arc<crate::liveness::Liveness>,
}
