//! Reports sent: one row per daily or final report that went into the outbox, with its day,
//! recipients, Message-ID, when and whether it was late. A scheduled report is unique per kind and
//! day (a unique index), written in the same transaction as its outbox row, so it exists exactly
//! when its email does and a restart never sends it twice.
//!
//! Also the read-only way into a data directory for `golive report preview`, which works whether
//! or not a daemon holds the directory's lock.

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{OpenFlags, params};
use serde::Serialize;

use super::alerts::Write;
use super::{DATABASE_FILE, Reader, Store, StoreError, millis, timestamp};

/// A report about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReportRecord {
    /// `daily` or `final`.
    pub kind: String,
    /// The local day it covers (`YYYY-MM-DD`); for the final report, the day the launch ended.
    pub day: String,
    /// `schedule` (the engine's own, unique per kind and day) or `manual` (`golive report send`).
    pub trigger: String,
    /// The addresses it went to.
    pub recipients: Vec<String>,
    pub message_id: String,
    pub sent_at: Timestamp,
    pub late: bool,
    pub outbox_id: Option<i64>,
}

/// A recorded report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRecord {
    pub id: i64,
    pub kind: String,
    pub day: String,
    pub trigger: String,
    pub recipients: Vec<String>,
    pub message_id: String,
    pub sent_at: Timestamp,
    pub late: bool,
    pub outbox_id: Option<i64>,
}

impl Write<'_> {
    /// Records a report; fails (and so rolls the whole transaction back, outbox row included) when
    /// a scheduled report of this kind and day was recorded before.
    pub fn record_report(&mut self, report: &NewReportRecord) -> Result<i64, StoreError> {
        self.transaction().execute(
            "INSERT INTO reports_sent (kind, day, trigger, recipients, message_id, sent_at, late, outbox_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                report.kind,
                report.day,
                report.trigger,
                serde_json::to_string(&report.recipients).unwrap_or_else(|_| "[]".into()),
                report.message_id,
                millis(report.sent_at),
                report.late,
                report.outbox_id,
            ],
        )?;
        Ok(self.transaction().last_insert_rowid())
    }
}

impl Store {
    /// Every scheduled report recorded, as (kind, day).
    pub fn scheduled_reports(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT kind, day FROM reports_sent WHERE trigger = 'schedule'")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

impl Reader {
    /// Opens the store in `data_dir` for reading without taking the daemon's lock, so it works
    /// beside a running daemon (WAL) and on a stopped one's directory alike. Nothing is created.
    pub fn open_data_dir(data_dir: &Path) -> Result<Reader, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        let open = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let connection = rusqlite::Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open)?;
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(open)?;
        if version < super::schema::VERSION {
            return Err(StoreError::Corrupt {
                what: "schema version",
                value: format!(
                    "{version} in {} is older than this golive's {}; start the daemon once (`golive run`) so it upgrades the store",
                    path.display(),
                    super::schema::VERSION
                ),
            });
        }
        Ok(Reader { connection })
    }

    /// Reports recorded, newest first.
    pub fn reports(&self, limit: usize) -> Result<Vec<ReportRecord>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, kind, day, trigger, recipients, message_id, sent_at, late, outbox_id \
             FROM reports_sent ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, bool>(7)?,
                row.get::<_, Option<i64>>(8)?,
            ))
        })?;
        let mut records = Vec::new();
        for row in rows {
            let (id, kind, day, trigger, recipients, message_id, sent_at, late, outbox_id) = row?;
            records.push(ReportRecord {
                id,
                kind,
                day,
                trigger,
                recipients: serde_json::from_str(&recipients).map_err(|_| StoreError::Corrupt {
                    what: "reports_sent.recipients",
                    value: recipients.clone(),
                })?,
                message_id,
                sent_at: timestamp(sent_at)?,
                late,
                outbox_id,
            });
        }
        Ok(records)
    }
}
