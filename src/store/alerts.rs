//! Alerts, the notification outbox, run-time silences and used acknowledgement links.
//!
//! An alert change, the outbox rows it causes and its log entries are written together through
//! [`Store::write`], so a notification exists exactly when the change that caused it does.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::Serialize;

use super::db::{Connection, Row, Transaction, Value, params};
use super::{Reader, Store, StoreError, insert_entry, millis, timestamp};
use crate::core::alert::{Acknowledgement, Alert, Silence, Window};
use crate::core::log::{LogEntry, NewEntry};
use crate::core::message::{OutboxKind, OutboxPayload};
use crate::plan::checks::Severity;

/// A notification to deliver, as the engine writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxRow {
    pub created_at: Timestamp,
    /// Not to be sent before this (grouping holds later alerts of a burst briefly).
    pub not_before: Timestamp,
    pub channel: String,
    pub kind: OutboxKind,
    pub alert_id: Option<i64>,
    /// Rows with the same key that are due together go out as one message.
    pub group_key: Option<String>,
    /// The rendered message, by channel kind (stored as JSON, serialized once here).
    pub payload: OutboxPayload,
}

/// The outbox's backlog (see [`Reader::outbox_backlog`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxBacklog {
    /// Notifications waiting.
    pub pending: i64,
    /// How long the oldest notification that should have gone out has waited (0 without one).
    pub oldest_due_seconds: f64,
}

/// Due outbox rows, and those that could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DueOutbox {
    pub rows: Vec<OutboxRow>,
    pub unreadable: Vec<UnreadableRow>,
}

/// A pending outbox row whose kind or payload cannot be read: what can be said of it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadableRow {
    pub id: i64,
    pub channel: String,
    pub kind: Option<OutboxKind>,
    pub alert_id: Option<i64>,
    pub created_at: Timestamp,
    /// Why it cannot be read.
    pub error: String,
}

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub created_at: Timestamp,
    pub not_before: Timestamp,
    pub next_attempt_at: Timestamp,
    pub channel: String,
    pub kind: OutboxKind,
    pub alert_id: Option<i64>,
    pub group_key: Option<String>,
    pub payload: OutboxPayload,
    pub attempts: u32,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub last_error: Option<String>,
    pub answer: Option<String>,
    pub finished_at: Option<Timestamp>,
}

/// Writes that belong together, inside one transaction.
pub struct Write<'a> {
    pub(super) transaction: Transaction<'a>,
}

impl Store {
    /// Runs `work` in one transaction and commits it; nothing is written when it fails.
    pub fn write<T>(
        &mut self,
        work: impl FnOnce(&mut Write<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut write = Write {
            transaction: self.begin()?,
        };
        let value = work(&mut write)?;
        write.transaction.commit()?;
        Ok(value)
    }

    /// Every alert that is not resolved.
    pub fn open_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        query_alerts(
            &self.connection,
            "WHERE resolved_at IS NULL ORDER BY id",
            params![],
        )
    }

    /// Run-time silences not removed (the engine filters by time).
    pub fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        read_silences(&self.connection)
    }

    /// Every action-item reminder sent, as (action id, local day).
    pub fn reminders_sent(&self) -> Result<Vec<(i64, String)>, StoreError> {
        self.connection
            .query("SELECT action_id, day FROM action_reminders", params![])?
            .iter()
            .map(|row| Ok((row.get(0)?, row.get(1)?)))
            .collect()
    }

    /// This store's random identity, made when it was created (see `schema.rs`, migration 7):
    /// the launch-unique part of every Message-ID.
    pub fn identity(&self) -> Result<String, StoreError> {
        self.connection
            .query_row("SELECT uid FROM store_identity WHERE id = 1", params![])?
            .get(0)
    }

    /// The alerts whose notifications carried `group_key` (one burst to one recipient through
    /// one channel), by id: what an acknowledge-all link covers.
    pub fn alerts_in_group(&self, group_key: &str) -> Result<Vec<i64>, StoreError> {
        self.connection
            .query(
                "SELECT DISTINCT alert_id FROM outbox WHERE group_key = ?1 AND alert_id IS NOT NULL ORDER BY alert_id",
                params![group_key],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// The notifications for `channel` still waiting that became due at or before `cutoff`
    /// (row, alert): what a channel down that long gives up.
    pub fn waiting_before(
        &self,
        channel: &str,
        cutoff: Timestamp,
    ) -> Result<Vec<(i64, Option<i64>)>, StoreError> {
        // Due at or before the cutoff: created and let go (`not_before`) by then.
        self.connection
            .query(
                "SELECT id, alert_id FROM outbox WHERE channel = ?1 AND status = 'pending' \
                 AND created_at <= ?2 AND not_before <= ?2 ORDER BY id",
                params![channel, millis(cutoff)],
            )?
            .iter()
            .map(|row| Ok((row.get(0)?, row.get(1)?)))
            .collect()
    }

    /// Whether an acknowledgement link's nonce was used already.
    pub fn ack_nonce_used(&self, nonce: &str) -> Result<bool, StoreError> {
        self.connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM used_ack_links WHERE nonce = ?1)",
                params![nonce],
            )?
            .get(0)
    }
}

impl Write<'_> {
    /// The open transaction, for writes defined in sibling modules.
    pub(super) fn transaction(&self) -> &Connection {
        &self.transaction
    }

    /// Inserts a new alert (its `id` is ignored) and returns the id it got.
    pub fn insert_alert(&mut self, alert: &Alert) -> Result<i64, StoreError> {
        self.transaction.insert(
            "INSERT INTO alerts (key, title, severity, policy, opened_at, reason, level, escalation_base, \
             last_notified_at, acked_by, acked_at, ack_expires_at, resolved_at, notified, max_level, labels) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                alert.key,
                alert.title,
                alert.severity.as_str(),
                alert.policy,
                millis(alert.opened_at),
                alert.reason,
                alert.level as i64,
                millis(alert.escalation_base),
                alert.last_notified_at.map(millis),
                alert.acknowledged.as_ref().map(|ack| ack.by.clone()),
                alert.acknowledged.as_ref().map(|ack| millis(ack.at)),
                alert.acknowledged.as_ref().and_then(|ack| ack.expires_at.map(millis)),
                alert.resolved_at.map(millis),
                notified_json(&alert.notified),
                alert.max_level as i64,
                serde_json::to_string(&alert.labels).unwrap_or_else(|_| "{}".into()),
            ],
        )
    }

    /// The open alert with `key`, if the store holds one: an earlier attempt to open it may have
    /// committed though its answer was lost (a PostgreSQL failover), and inserting it again would
    /// open a second alert for the same thing.
    pub fn open_alert_with_key(&self, key: &str) -> Result<Option<Alert>, StoreError> {
        Ok(query_alerts(
            &self.transaction,
            "WHERE resolved_at IS NULL AND key = ?1 ORDER BY id LIMIT 1",
            params![key],
        )?
        .into_iter()
        .next())
    }

    /// Writes an alert's current state.
    pub fn update_alert(&mut self, alert: &Alert) -> Result<(), StoreError> {
        self.transaction.execute(
            "UPDATE alerts SET title = ?2, severity = ?3, policy = ?4, reason = ?5, level = ?6, \
             escalation_base = ?7, last_notified_at = ?8, acked_by = ?9, acked_at = ?10, \
             ack_expires_at = ?11, resolved_at = ?12, notified = ?13, max_level = ?14 WHERE id = ?1",
            params![
                alert.id,
                alert.title,
                alert.severity.as_str(),
                alert.policy,
                alert.reason,
                alert.level as i64,
                millis(alert.escalation_base),
                alert.last_notified_at.map(millis),
                alert.acknowledged.as_ref().map(|ack| ack.by.clone()),
                alert.acknowledged.as_ref().map(|ack| millis(ack.at)),
                alert.acknowledged.as_ref().and_then(|ack| ack.expires_at.map(millis)),
                alert.resolved_at.map(millis),
                notified_json(&alert.notified),
                alert.max_level as i64,
            ],
        )?;
        Ok(())
    }

    /// Queues a notification; returns its id.
    pub fn enqueue(&mut self, row: &NewOutboxRow) -> Result<i64, StoreError> {
        self.transaction.insert(
            "INSERT INTO outbox (created_at, not_before, next_attempt_at, channel, kind, alert_id, \
             group_key, payload, status) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')",
            params![
                millis(row.created_at),
                millis(row.not_before),
                row.channel,
                row.kind.as_str(),
                row.alert_id,
                row.group_key,
                serde_json::to_string(&row.payload).map_err(|error| StoreError::Corrupt {
                    what: "outbox.payload",
                    value: error.to_string(),
                })?,
            ],
        )
    }

    /// Makes every notification waiting for `channel` due at `now` (the channel works again):
    /// returns how many.
    pub fn release_channel(&mut self, channel: &str, now: Timestamp) -> Result<usize, StoreError> {
        self.transaction.execute(
            "UPDATE outbox SET next_attempt_at = ?2 WHERE channel = ?1 AND status = 'pending' AND next_attempt_at > ?2",
            params![channel, millis(now)],
        )
    }

    /// Gives up those of `ids` still waiting (they waited longer than the plan allows, see
    /// [`Store::waiting_before`]); returns the ids given up.
    pub fn fail_waiting(
        &mut self,
        ids: &[i64],
        error: &str,
        now: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        let mut failed = Vec::new();
        for id in ids {
            let changed = self.transaction.execute(
                "UPDATE outbox SET status = 'failed', last_error = ?2, finished_at = ?3 \
                 WHERE id = ?1 AND status = 'pending'",
                params![id, error, millis(now)],
            )?;
            if changed > 0 {
                failed.push(*id);
            }
        }
        Ok(failed)
    }

    /// Appends a log entry.
    pub fn log(&mut self, entry: &NewEntry) -> Result<LogEntry, StoreError> {
        insert_entry(&self.transaction, entry)
    }

    /// Sends an alert's notifications that grouping still holds back at once (used when the
    /// alert is acknowledged or resolved, so nobody gets "resolved" before "opened").
    pub fn release_held(&mut self, alert_id: i64, now: Timestamp) -> Result<usize, StoreError> {
        self.transaction.execute(
            "UPDATE outbox SET not_before = ?2 WHERE alert_id = ?1 AND status = 'pending' AND not_before > ?2",
            params![alert_id, millis(now)],
        )
    }

    /// Records that an action item's reminder for `day` was sent.
    pub fn record_reminder(
        &mut self,
        action_id: i64,
        day: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.transaction.execute(
            "INSERT INTO action_reminders (action_id, day, sent_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![action_id, day, millis(now)],
        )?;
        Ok(())
    }

    /// Records a delivery.
    pub fn mark_delivered(
        &mut self,
        id: i64,
        answer: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.transaction.execute(
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, answer = ?2, finished_at = ?3 WHERE id = ?1",
            params![id, answer, millis(now)],
        )?;
        Ok(())
    }

    /// Records a failed attempt to be tried again at `next_attempt_at`.
    pub fn mark_retry(
        &mut self,
        id: i64,
        error: &str,
        next_attempt_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.transaction.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, error, millis(next_attempt_at)],
        )?;
        Ok(())
    }

    /// Records that a notification was given up.
    pub fn mark_failed(&mut self, id: i64, error: &str, now: Timestamp) -> Result<(), StoreError> {
        self.transaction.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2, finished_at = ?3 WHERE id = ?1",
            params![id, error, millis(now)],
        )?;
        Ok(())
    }

    /// Stores a run-time silence (only `Once` windows are created at run time).
    pub fn insert_silence(&mut self, silence: &Silence, now: Timestamp) -> Result<(), StoreError> {
        let Window::Once { start, end } = &silence.window else {
            return Err(StoreError::Corrupt {
                what: "silences",
                value: "only one-off silences are stored".into(),
            });
        };
        self.transaction.execute(
            "INSERT INTO silences (id, checks, severities, starts_at, ends_at, author, comment, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET checks = ?2, \
             severities = ?3, starts_at = ?4, ends_at = ?5, author = ?6, comment = ?7, created_at = ?8, \
             removed_at = NULL",
            params![
                silence.id,
                serde_json::to_string(&silence.checks).unwrap_or_else(|_| "[]".into()),
                serde_json::to_string(&silence.severities).unwrap_or_else(|_| "[]".into()),
                millis(*start),
                millis(*end),
                silence.author,
                silence.comment,
                millis(now),
            ],
        )?;
        Ok(())
    }

    /// Marks a run-time silence removed; false when there was none.
    pub fn remove_silence(&mut self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.transaction.execute(
            "UPDATE silences SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
            params![id, millis(now)],
        )? > 0)
    }

    /// Uses an acknowledgement link's nonce; false when it was used before.
    pub fn use_ack_nonce(&mut self, nonce: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.transaction.execute(
            "INSERT INTO used_ack_links (nonce, used_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![nonce, millis(now)],
        )? > 0)
    }
}

impl Reader {
    /// Alerts, newest first: all, or only open ones.
    pub fn alerts(&self, only_open: bool, limit: usize) -> Result<Vec<Alert>, StoreError> {
        let filter = if only_open {
            "WHERE resolved_at IS NULL ORDER BY id DESC LIMIT ?1"
        } else {
            "ORDER BY id DESC LIMIT ?1"
        };
        query_alerts(
            &self.connection,
            filter,
            params![i64::try_from(limit).unwrap_or(i64::MAX)],
        )
    }

    /// Alerts opened in `[from, to)` or still open then, oldest first (for reports).
    pub fn alerts_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Alert>, StoreError> {
        query_alerts(
            &self.connection,
            "WHERE opened_at < ?2 AND (resolved_at IS NULL OR resolved_at >= ?1) ORDER BY id",
            params![millis(from), millis(to)],
        )
    }

    pub fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        Ok(
            query_alerts(&self.connection, "WHERE id = ?1", params![id])?
                .into_iter()
                .next(),
        )
    }

    /// Due notifications, the rows of at most `per_channel` messages of each channel (a group's
    /// rows are one message and always come whole), oldest first: a channel with a long queue
    /// never hides another channel's due messages.
    /// A row that cannot be read (written by a newer golive, or damaged) comes back apart, in
    /// [`DueOutbox::unreadable`], so it holds back nothing else.
    pub fn due_outbox_per_channel(
        &self,
        now: Timestamp,
        per_channel: usize,
    ) -> Result<DueOutbox, StoreError> {
        query_outbox_lenient(
            &self.connection,
            "WHERE id IN (SELECT id FROM (SELECT id, DENSE_RANK() OVER (PARTITION BY channel ORDER BY first_id) AS place \
             FROM (SELECT id, channel, MIN(id) OVER (PARTITION BY channel, COALESCE(group_key, 'row ' || id)) AS first_id \
             FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?1 AND not_before <= ?1) AS due) AS ranked \
             WHERE place <= ?2) ORDER BY id",
            params![millis(now), i64::try_from(per_channel).unwrap_or(i64::MAX)],
        )
    }

    /// The oldest waiting notification of each queue of `channel` (an alert's notifications, or
    /// one without an alert), whether or not its retry is due: the candidates for probing a
    /// channel that is down. Oldest first.
    pub fn outbox_heads(
        &self,
        channel: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        query_outbox(
            &self.connection,
            "WHERE id IN (SELECT MIN(id) FROM outbox WHERE status = 'pending' AND channel = ?1 \
             AND not_before <= ?2 GROUP BY COALESCE(alert_id, -id)) ORDER BY id LIMIT ?3",
            params![
                channel,
                millis(now),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
        )
    }

    /// The channels with notifications waiting to be retried (they failed before), each with
    /// when its oldest such notification was queued: after a restart, those channels are taken
    /// as down until a page gets through.
    pub fn channels_retrying(&self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.connection
            .query(
                "SELECT channel, MIN(created_at) FROM outbox WHERE status = 'pending' AND attempts > 0 GROUP BY channel ORDER BY channel",
                params![],
            )?
            .iter()
            .map(|row| Ok((row.get(0)?, timestamp(row.get(1)?)?)))
            .collect()
    }

    /// The outbox's backlog at `now`: the pending notifications, and how long the oldest of those
    /// that should have gone out by now (its `not_before` has passed; silenced and grouped ones
    /// held back have not) has been waiting since then.
    pub fn outbox_backlog(&self, now: Timestamp) -> Result<OutboxBacklog, StoreError> {
        let now = millis(now);
        let row = self.connection.query_row(
            "SELECT COUNT(*), MIN(CASE WHEN not_before <= ?1 THEN not_before END) \
             FROM outbox WHERE status = 'pending'",
            params![now],
        )?;
        let (pending, oldest_due): (i64, Option<i64>) = (row.get(0)?, row.get(1)?);
        Ok(OutboxBacklog {
            pending,
            oldest_due_seconds: oldest_due
                .map_or(0.0, |at| now.saturating_sub(at).max(0) as f64 / 1000.0),
        })
    }

    /// An alert's notifications, oldest first.
    pub fn alert_outbox(&self, alert_id: i64) -> Result<Vec<OutboxRow>, StoreError> {
        query_outbox(
            &self.connection,
            "WHERE alert_id = ?1 ORDER BY id",
            params![alert_id],
        )
    }

    /// Notifications created in `[from, to)`, oldest first (for reports).
    pub fn outbox_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        query_outbox(
            &self.connection,
            "WHERE created_at >= ?1 AND created_at < ?2 ORDER BY id",
            params![millis(from), millis(to)],
        )
    }

    /// Run-time silences not removed.
    pub fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        read_silences(&self.connection)
    }
}

fn notified_json(notified: &BTreeSet<String>) -> String {
    serde_json::to_string(notified).unwrap_or_else(|_| "[]".into())
}

const ALERT_COLUMNS: &str = "id, key, title, severity, policy, opened_at, reason, level, escalation_base, \
     last_notified_at, acked_by, acked_at, ack_expires_at, resolved_at, notified, max_level, labels";

fn query_alerts(
    connection: &Connection,
    filter: &str,
    params: &[Value],
) -> Result<Vec<Alert>, StoreError> {
    connection
        .query(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts {filter}"),
            params,
        )?
        .iter()
        .map(alert_row)
        .collect()
}

fn corrupt(what: &'static str, value: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what,
        value: value.into(),
    }
}

fn alert_row(row: &Row) -> Result<Alert, StoreError> {
    let severity: String = row.get(3)?;
    let notified: String = row.get(14)?;
    let acked_by: Option<String> = row.get(10)?;
    let acked_at: Option<i64> = row.get(11)?;
    let expires: Option<i64> = row.get(12)?;
    let last: Option<i64> = row.get(9)?;
    let resolved: Option<i64> = row.get(13)?;
    let level: i64 = row.get(7)?;
    let max_level: i64 = row.get(15)?;
    let labels: String = row.get(16)?;
    let acknowledged = match (acked_by, acked_at) {
        (Some(by), Some(at)) => Some(Acknowledgement {
            by,
            at: timestamp(at)?,
            expires_at: expires.map(timestamp).transpose()?,
        }),
        _ => None,
    };
    Ok(Alert {
        id: row.get(0)?,
        key: row.get(1)?,
        title: row.get(2)?,
        severity: severity
            .parse::<Severity>()
            .map_err(|_| corrupt("alerts.severity", severity.clone()))?,
        policy: row.get(4)?,
        opened_at: timestamp(row.get(5)?)?,
        reason: row.get(6)?,
        level: usize::try_from(level).unwrap_or(0),
        escalation_base: timestamp(row.get(8)?)?,
        last_notified_at: last.map(timestamp).transpose()?,
        acknowledged,
        resolved_at: resolved.map(timestamp).transpose()?,
        notified: serde_json::from_str(&notified)
            .map_err(|_| corrupt("alerts.notified", notified.clone()))?,
        max_level: usize::try_from(max_level).unwrap_or(0),
        labels: serde_json::from_str(&labels)
            .map_err(|_| corrupt("alerts.labels", labels.clone()))?,
    })
}

const OUTBOX_COLUMNS: &str = "id, created_at, not_before, next_attempt_at, channel, kind, alert_id, group_key, \
     payload, attempts, status, last_error, answer, finished_at";

fn query_outbox(
    connection: &Connection,
    filter: &str,
    params: &[Value],
) -> Result<Vec<OutboxRow>, StoreError> {
    connection
        .query(
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox {filter}"),
            params,
        )?
        .iter()
        .map(outbox_row)
        .collect()
}

/// Like [`query_outbox`], but a row that cannot be read is set apart instead of failing the read.
fn query_outbox_lenient(
    connection: &Connection,
    filter: &str,
    params: &[Value],
) -> Result<DueOutbox, StoreError> {
    let rows = connection.query(
        &format!("SELECT {OUTBOX_COLUMNS} FROM outbox {filter}"),
        params,
    )?;
    let mut due = DueOutbox::default();
    for row in &rows {
        match outbox_row(row) {
            Ok(read) => due.rows.push(read),
            Err(error) => due.unreadable.push(UnreadableRow {
                id: row.get(0)?,
                channel: row.get(4)?,
                kind: OutboxKind::parse(&row.get::<String>(5)?),
                alert_id: row.get(6)?,
                created_at: timestamp(row.get(1)?).unwrap_or(Timestamp::UNIX_EPOCH),
                error: error.to_string(),
            }),
        }
    }
    Ok(due)
}

fn outbox_row(row: &Row) -> Result<OutboxRow, StoreError> {
    let payload: String = row.get(8)?;
    let finished: Option<i64> = row.get(13)?;
    let attempts: i64 = row.get(9)?;
    let kind_name: String = row.get(5)?;
    let kind =
        OutboxKind::parse(&kind_name).ok_or_else(|| corrupt("outbox.kind", kind_name.clone()))?;
    Ok(OutboxRow {
        id: row.get(0)?,
        created_at: timestamp(row.get(1)?)?,
        not_before: timestamp(row.get(2)?)?,
        next_attempt_at: timestamp(row.get(3)?)?,
        channel: row.get(4)?,
        kind,
        alert_id: row.get(6)?,
        group_key: row.get(7)?,
        payload: serde_json::from_str(&payload)
            .map_err(|_| corrupt("outbox.payload", payload.clone()))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        status: row.get(10)?,
        last_error: row.get(11)?,
        answer: row.get(12)?,
        finished_at: finished.map(timestamp).transpose()?,
    })
}

fn read_silences(connection: &Connection) -> Result<Vec<Silence>, StoreError> {
    let rows = connection.query(
        "SELECT id, checks, severities, starts_at, ends_at, author, comment FROM silences WHERE removed_at IS NULL ORDER BY created_at",
        params![],
    )?;
    let mut silences = Vec::new();
    for row in rows {
        let (checks, severities): (String, String) = (row.get(1)?, row.get(2)?);
        silences.push(Silence {
            id: row.get(0)?,
            checks: serde_json::from_str(&checks)
                .map_err(|_| corrupt("silences.checks", checks.clone()))?,
            severities: serde_json::from_str(&severities)
                .map_err(|_| corrupt("silences.severities", severities.clone()))?,
            window: Window::Once {
                start: timestamp(row.get(3)?)?,
                end: timestamp(row.get(4)?)?,
            },
            author: row.get(5)?,
            comment: row.get(6)?,
        });
    }
    Ok(silences)
}
