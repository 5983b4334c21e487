//! The review meeting's messages sent (`review_messages`: the invitation and the reminder, each
//! once per launch) and the one-use feedback links. A message's record and its outbox row are
//! written in one transaction, so neither goes out twice across restarts. Feedback links share
//! the acknowledgement links' table of used nonces (`used_ack_links`): nonces are random, and
//! what a link may do is in its signature, not in that table.

use super::alerts::Write;
use super::db::params;
use super::{Store, StoreError, millis};
use jiff::Timestamp;

/// A message of the review meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewMessage {
    /// The iCalendar invitation, sent when the launch ends.
    Invitation,
    /// The reminder the day before.
    Reminder,
}

impl ReviewMessage {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewMessage::Invitation => "invitation",
            ReviewMessage::Reminder => "reminder",
        }
    }
}

impl Store {
    /// Which review messages were sent.
    pub fn review_messages_sent(&self) -> Result<Vec<ReviewMessage>, StoreError> {
        let kinds = self
            .connection
            .query("SELECT kind FROM review_messages", params![])?;
        let mut sent = Vec::new();
        for kind in kinds {
            match kind.get::<String>(0)?.as_str() {
                "invitation" => sent.push(ReviewMessage::Invitation),
                "reminder" => sent.push(ReviewMessage::Reminder),
                _ => {}
            }
        }
        Ok(sent)
    }
}

impl Write<'_> {
    /// Records a review message as sent (with its first outbox row); false when it was already.
    pub fn record_review_message(
        &mut self,
        message: ReviewMessage,
        outbox_id: Option<i64>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.transaction().execute(
            "INSERT INTO review_messages (kind, sent_at, outbox_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![message.as_str(), millis(now), outbox_id],
        )? > 0)
    }
}
