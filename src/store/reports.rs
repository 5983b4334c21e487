//! Reports sent: one row per daily or final report that went into the outbox, with its day,
//! recipients, Message-ID, when and whether it was late. A scheduled report is unique per kind and
//! day (a unique index), written in the same transaction as its outbox row, so it exists exactly
//! when its email does and a restart never sends it twice.
//!
//! Also the hourly check history reports read (see [`Store::roll_up_hours`]), and the read-only way
//! into a data directory for `golive report preview`, which works whether
//! or not a daemon holds the directory's lock.

use std::path::Path;

use jiff::Timestamp;
use rusqlite::OpenFlags;
use serde::Serialize;

use super::alerts::Write;
use super::db::{Connection, params};
use super::rollups::{COLUMNS, rollup_row, upsert_rollup, upsert_sql};
use super::{DATABASE_FILE, Reader, Store, StoreError, millis, timestamp};
use crate::core::rollup::Rollup;

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
        self.transaction().insert(
            "INSERT INTO reports_sent (kind, day, trigger, recipients, message_id, sent_at, late, outbox_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                &report.kind,
                &report.day,
                &report.trigger,
                serde_json::to_string(&report.recipients).unwrap_or_else(|_| "[]".into()),
                &report.message_id,
                millis(report.sent_at),
                report.late,
                report.outbox_id,
            ],
        )
    }
}

impl Store {
    /// Every scheduled report recorded, as (kind, day).
    pub fn scheduled_reports(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.connection
            .query(
                "SELECT kind, day FROM reports_sent WHERE trigger = 'schedule'",
                params![],
            )?
            .iter()
            .map(|row| Ok((row.get(0)?, row.get(1)?)))
            .collect()
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
        let connection = Connection::Sqlite(connection);
        super::schema::require_current(&connection, &path.display().to_string())?;
        Ok(Reader { connection })
    }

    /// Reports recorded, newest first.
    pub fn reports(&self, limit: usize) -> Result<Vec<ReportRecord>, StoreError> {
        let rows = self.connection.query(
            "SELECT id, kind, day, trigger, recipients, message_id, sent_at, late, outbox_id \
             FROM reports_sent ORDER BY id DESC LIMIT ?1",
            params![i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        let mut records = Vec::new();
        for row in rows {
            let recipients: String = row.get(4)?;
            records.push(ReportRecord {
                id: row.get(0)?,
                kind: row.get(1)?,
                day: row.get(2)?,
                trigger: row.get(3)?,
                recipients: serde_json::from_str(&recipients).map_err(|_| StoreError::Corrupt {
                    what: "reports_sent.recipients",
                    value: recipients.clone(),
                })?,
                message_id: row.get(5)?,
                sent_at: timestamp(row.get(6)?)?,
                late: row.get(7)?,
                outbox_id: row.get(8)?,
            });
        }
        Ok(records)
    }
}

/// The hourly history: each finished hour of a check's minutes merged into one row, so reports
/// over days read 24 rows per check and day.
impl Store {
    /// The first hour (Unix hours) not yet merged into the hourly history; `None` before the
    /// first merge.
    pub fn hours_rolled_up_until(&self) -> Result<Option<i64>, StoreError> {
        hours_rolled_up_until(&self.connection)
    }

    /// The first minute of stored check history, if any.
    pub fn first_minute(&self) -> Result<Option<i64>, StoreError> {
        self.connection
            .query_row("SELECT MIN(minute) FROM check_minutes", params![])?
            .get(0)
    }

    /// Merges the minutes of `checks` in hours `[from_hour, to_hour)` into hourly rows (replacing
    /// what those hours held) and records `to_hour` as merged, in one transaction.
    pub fn roll_up_hours<'a>(
        &mut self,
        checks: impl IntoIterator<Item = &'a str>,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<usize, StoreError> {
        let transaction = self.begin()?;
        let mut written = 0;
        let select = format!(
            "SELECT {COLUMNS} FROM check_minutes WHERE check_id = ?1 AND minute >= ?2 AND minute < ?3 ORDER BY minute"
        );
        let upsert = upsert_sql("check_hours", "hour");
        for check in checks {
            let rows = transaction.query(&select, params![check, from_hour * 60, to_hour * 60])?;
            let mut hours: std::collections::BTreeMap<i64, Rollup> = Default::default();
            for row in &rows {
                let (minute, rollup) = rollup_row(row)?;
                hours
                    .entry(minute.div_euclid(60))
                    .or_default()
                    .merge(&rollup);
            }
            for (hour, merged) in &hours {
                upsert_rollup(&transaction, &upsert, check, *hour, merged)?;
                written += 1;
            }
        }
        transaction.execute(
            "INSERT INTO hours_rolled_up (id, until) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE \
             SET until = CASE WHEN hours_rolled_up.until > ?1 THEN hours_rolled_up.until ELSE ?1 END",
            params![to_hour],
        )?;
        transaction.commit()?;
        Ok(written)
    }
}

impl Reader {
    /// The first hour not yet merged into the hourly history (`None`: none is).
    pub fn hours_rolled_up_until(&self) -> Result<Option<i64>, StoreError> {
        hours_rolled_up_until(&self.connection)
    }

    /// A check's hourly rows in `[from_hour, to_hour)`, keyed by their first minute, oldest first.
    pub fn check_hours(
        &self,
        check: &str,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<(i64, Rollup)>, StoreError> {
        let columns = COLUMNS.replacen("minute", "hour", 1);
        self.connection
            .query(
                &format!(
                    "SELECT {columns} FROM check_hours WHERE check_id = ?1 AND hour >= ?2 AND hour < ?3 ORDER BY hour"
                ),
                params![check, from_hour, to_hour],
            )?
            .iter()
            .map(|row| rollup_row(row).map(|(hour, rollup)| (hour * 60, rollup)))
            .collect()
    }
}

fn hours_rolled_up_until(connection: &Connection) -> Result<Option<i64>, StoreError> {
    connection
        .query_optional("SELECT until FROM hours_rolled_up WHERE id = 1", params![])?
        .map(|row| row.get(0))
        .transpose()
}
