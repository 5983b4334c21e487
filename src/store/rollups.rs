//! Per-minute check history: merge-upserts from the engine, range reads for the API and reports,
//! and pruning past the retention period.

use std::time::Duration;

use super::db::{Connection, Row, params};
use super::{Reader, Store, StoreError};
use crate::core::rollup::{LatencyHistogram, Rollup, ValueStats};

/// One row to write: a check's rollup for one minute (Unix minutes).
pub struct MinuteRow<'a> {
    pub check: &'a str,
    pub minute: i64,
    pub rollup: &'a Rollup,
}

impl Store {
    /// Adds the rows to the stored history in one transaction, merging with what a minute already
    /// holds (a minute flushed at shutdown and continued after a restart, or a late probe).
    pub fn write_rollups(&mut self, rows: &[MinuteRow<'_>]) -> Result<(), StoreError> {
        let transaction = self.begin()?;
        let select =
            format!("SELECT {COLUMNS} FROM check_minutes WHERE check_id = ?1 AND minute = ?2");
        let upsert = upsert_sql("check_minutes", "minute");
        for row in rows {
            let existing = transaction
                .query_optional(&select, params![row.check, row.minute])?
                .as_ref()
                .map(rollup_row)
                .transpose()?;
            let merged = match existing {
                Some((_, mut stored)) => {
                    stored.merge(row.rollup);
                    stored
                }
                None => row.rollup.clone(),
            };
            upsert_rollup(&transaction, &upsert, row.check, row.minute, &merged)?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// Deletes the history of `checks` older than `before_minute`, one primary-key range per
    /// check (no index on the minute alone, which would cost a third more bytes per row); returns
    /// how many minutes went. History of checks no longer in the plan is kept.
    pub fn prune_rollups<'a>(
        &mut self,
        checks: impl IntoIterator<Item = &'a str>,
        before_minute: i64,
    ) -> Result<usize, StoreError> {
        let transaction = self.begin()?;
        let mut pruned = 0;
        for check in checks {
            pruned += transaction.execute(
                "DELETE FROM check_minutes WHERE check_id = ?1 AND minute < ?2",
                params![check, before_minute],
            )?;
        }
        transaction.commit()?;
        Ok(pruned)
    }
}

impl Reader {
    /// A check's minutes in `[from_minute, to_minute)`, oldest first.
    pub fn check_minutes(
        &self,
        check: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<(i64, Rollup)>, StoreError> {
        read_minutes(&self.connection, check, from_minute, to_minute)
    }
}

pub(super) const COLUMNS: &str = "minute, probes, failures, unknowns, latency_sum_us, latency_max_us, \
     latency_hist, value_count, value_min, value_max, value_last, value_sum";

fn read_minutes(
    connection: &Connection,
    check: &str,
    from_minute: i64,
    to_minute: i64,
) -> Result<Vec<(i64, Rollup)>, StoreError> {
    connection
        .query(
            &format!(
                "SELECT {COLUMNS} FROM check_minutes WHERE check_id = ?1 AND minute >= ?2 AND minute < ?3 ORDER BY minute"
            ),
            params![check, from_minute, to_minute],
        )?
        .iter()
        .map(rollup_row)
        .collect()
}

/// The statement that writes one rollup into `table` (`check_minutes` or `check_hours`), whose
/// period column is `period` (`minute` or `hour`), replacing what the row held; its parameters
/// are bound by [`upsert_rollup`].
pub(super) fn upsert_sql(table: &str, period: &str) -> String {
    format!(
        "INSERT INTO {table} (check_id, {period}, probes, failures, unknowns, \
         latency_sum_us, latency_max_us, latency_hist, value_count, value_min, value_max, \
         value_last, value_sum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
         ON CONFLICT (check_id, {period}) DO UPDATE SET probes = ?3, failures = ?4, unknowns = ?5, \
         latency_sum_us = ?6, latency_max_us = ?7, latency_hist = ?8, value_count = ?9, \
         value_min = ?10, value_max = ?11, value_last = ?12, value_sum = ?13"
    )
}

/// Writes `rollup` as `check`'s row for `period` (a Unix minute or hour) with the statement
/// [`upsert_sql`] made. The value columns stay empty for a check without values.
pub(super) fn upsert_rollup(
    connection: &Connection,
    upsert: &str,
    check: &str,
    period: i64,
    rollup: &Rollup,
) -> Result<usize, StoreError> {
    let values = &rollup.values;
    let value = |v: f64| (values.count > 0).then_some(v);
    connection.execute(
        upsert,
        params![
            check,
            period,
            rollup.probes,
            rollup.failures,
            rollup.unknowns,
            micros(rollup.latency_sum),
            micros(rollup.latency_max),
            rollup.latency.encode(),
            values.count,
            value(values.min),
            value(values.max),
            value(values.last),
            value(values.sum),
        ],
    )
}

pub(super) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn duration(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

pub(super) fn rollup_row(row: &Row) -> Result<(i64, Rollup), StoreError> {
    let hist: Vec<u8> = row.get(6)?;
    let stats =
        |index| -> Result<f64, StoreError> { Ok(row.get::<Option<f64>>(index)?.unwrap_or(0.0)) };
    let values = ValueStats {
        min: stats(8)?,
        max: stats(9)?,
        last: stats(10)?,
        sum: stats(11)?,
        count: row.get(7)?,
    };
    let rollup = Rollup {
        probes: row.get(1)?,
        failures: row.get(2)?,
        unknowns: row.get(3)?,
        latency_sum: duration(row.get(4)?),
        latency_max: duration(row.get(5)?),
        latency: LatencyHistogram::decode(&hist).ok_or(StoreError::Corrupt {
            what: "latency_hist",
            value: format!("{} bytes that are no histogram", hist.len()),
        })?,
        values,
    };
    Ok((row.get(0)?, rollup))
}
