//! The deployment runbook's rows: each step's record (`runbook_steps`) and the lateness warnings
//! sent (`runbook_warnings`, one per step, kind and level, so a restart never sends one twice).

use std::collections::BTreeMap;

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::alerts::Write;
use super::{Reader, Store, StoreError, millis, timestamp};
use crate::core::runbook::{self, LateKind, StepRecord, StepRecords, StepState, StepView};
use crate::domain::Phase;
use crate::plan::Plan;

/// A lateness warning already sent: (step id, kind, level).
pub type SentWarning = (String, String, u8);
/// Every lateness warning sent, with when.
pub type SentWarnings = BTreeMap<SentWarning, Timestamp>;

impl Store {
    /// Every recorded runbook step by id (steps never touched are absent: pending).
    pub fn runbook_steps(&self) -> Result<StepRecords, StoreError> {
        read_steps(&self.connection)
    }

    /// Every lateness warning sent.
    pub fn runbook_warnings(&self) -> Result<SentWarnings, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT step_id, kind, level, sent_at FROM runbook_warnings")?;
        let rows = statement.query_map([], |row| {
            Ok((
                (row.get(0)?, row.get(1)?, row.get(2)?),
                row.get::<_, i64>(3)?,
            ))
        })?;
        let mut sent = SentWarnings::new();
        for row in rows {
            let (key, at) = row?;
            sent.insert(key, timestamp(at)?);
        }
        Ok(sent)
    }
}

impl Write<'_> {
    /// Stores a step's record as it is after a change.
    pub fn save_step(
        &mut self,
        step: &str,
        record: &StepRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.transaction.execute(
            "INSERT INTO runbook_steps (step_id, state, started_at, started_by, finished_at, finished_by, reason, forced, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (step_id) DO UPDATE SET state = ?2, started_at = ?3, started_by = ?4,
                 finished_at = ?5, finished_by = ?6, reason = ?7, forced = ?8, updated_at = ?9",
            params![
                step,
                record.state.as_str(),
                record.started_at.map(millis),
                record.started_by,
                record.finished_at.map(millis),
                record.finished_by,
                record.reason,
                record.forced,
                millis(now),
            ],
        )?;
        Ok(())
    }

    /// Records that a lateness warning was sent.
    pub fn record_runbook_warning(
        &mut self,
        step: &str,
        kind: LateKind,
        level: u8,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.transaction.execute(
            "INSERT OR IGNORE INTO runbook_warnings (step_id, kind, level, sent_at) VALUES (?1, ?2, ?3, ?4)",
            params![step, kind.as_str(), level, millis(now)],
        )?;
        Ok(())
    }

    /// Forgets the lateness warnings of a step (it is started again after a failure, so a new
    /// overrun deserves new warnings).
    pub fn clear_runbook_warnings(&mut self, step: &str) -> Result<(), StoreError> {
        self.transaction
            .execute("DELETE FROM runbook_warnings WHERE step_id = ?1", [step])?;
        Ok(())
    }
}

impl Reader {
    /// Every recorded runbook step by id (steps never touched are absent: pending).
    pub fn runbook_steps(&self) -> Result<StepRecords, StoreError> {
        read_steps(&self.connection)
    }

    /// The runbook as the plan has it, with each step's actual times, who did what, and how late
    /// it is at `now` in `phase` (for reports, the status page and the timeline).
    pub fn runbook(
        &self,
        plan: &Plan,
        phase: Phase,
        now: Timestamp,
    ) -> Result<Vec<StepView>, StoreError> {
        Ok(runbook::view(plan, &self.runbook_steps()?, phase, now))
    }
}

fn read_steps(connection: &Connection) -> Result<StepRecords, StoreError> {
    let mut statement = connection.prepare(
        "SELECT step_id, state, started_at, started_by, finished_at, finished_by, reason, forced FROM runbook_steps",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<i64>>(2)?,
            row.get::<_, Option<String>>(3)?,
            row.get::<_, Option<i64>>(4)?,
            row.get::<_, Option<String>>(5)?,
            row.get::<_, Option<String>>(6)?,
            row.get::<_, bool>(7)?,
        ))
    })?;
    let mut records = StepRecords::new();
    for row in rows {
        let (id, state, started_at, started_by, finished_at, finished_by, reason, forced) = row?;
        let state = state
            .parse::<StepState>()
            .map_err(|_| StoreError::Corrupt {
                what: "runbook_steps.state",
                value: state.clone(),
            })?;
        records.insert(
            id,
            StepRecord {
                state,
                started_at: started_at.map(timestamp).transpose()?,
                started_by,
                finished_at: finished_at.map(timestamp).transpose()?,
                finished_by,
                reason,
                forced,
            },
        );
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::runbook::StepRecord;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn step_records_and_warnings_sent_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let record = StepRecord {
            state: StepState::Failed,
            started_at: Some(at(1)),
            started_by: Some("bob".into()),
            finished_at: Some(at(60)),
            finished_by: Some("alice".into()),
            reason: Some("pods crash-loop".into()),
            forced: true,
        };
        {
            let mut store = Store::open(dir.path()).unwrap();
            store
                .write(|write| {
                    write.save_step("deploy", &StepRecord::default(), at(0))?;
                    write.save_step("deploy", &record, at(60))?;
                    write.record_runbook_warning("deploy", LateKind::Overrunning, 1, at(30))?;
                    write.record_runbook_warning("deploy", LateKind::Overrunning, 1, at(31))?;
                    write.record_runbook_warning("smoke", LateKind::NotStarted, 2, at(40))
                })
                .unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.runbook_steps().unwrap()["deploy"], record);
        assert_eq!(store.reader().unwrap().runbook_steps().unwrap().len(), 1);
        let sent = store.runbook_warnings().unwrap();
        assert_eq!(sent.len(), 2);
        // The first record of a warning stands.
        assert_eq!(
            sent[&("deploy".to_string(), "overrunning".to_string(), 1)],
            at(30)
        );
        store
            .write(|write| write.clear_runbook_warnings("deploy"))
            .unwrap();
        assert_eq!(store.runbook_warnings().unwrap().len(), 1);
    }
}
