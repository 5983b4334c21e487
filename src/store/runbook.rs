//! The deployment runbook's rows: each step's record (`runbook_steps`) and the lateness warnings
//! sent (`runbook_warnings`, one per step, kind and level, so a restart never sends one twice).

use std::collections::BTreeMap;

use super::alerts::Write;
use super::db::{Connection, params};
use super::{Reader, Store, StoreError, millis, timestamp};
use crate::core::runbook::{self, LateKind, StepRecord, StepRecords, StepState, StepView};
use crate::domain::Phase;
use crate::plan::Plan;
use jiff::Timestamp;

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
        let rows = self.connection.query(
            "SELECT step_id, kind, level, sent_at FROM runbook_warnings",
            params![],
        )?;
        let mut sent = SentWarnings::new();
        for row in rows {
            sent.insert(
                (row.get(0)?, row.get(1)?, row.get(2)?),
                timestamp(row.get(3)?)?,
            );
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
            "INSERT INTO runbook_warnings (step_id, kind, level, sent_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![step, kind.as_str(), level, millis(now)],
        )?;
        Ok(())
    }

    /// Forgets the lateness warnings of a step (it is started again after a failure, so a new
    /// overrun deserves new warnings).
    pub fn clear_runbook_warnings(&mut self, step: &str) -> Result<(), StoreError> {
        self.transaction.execute(
            "DELETE FROM runbook_warnings WHERE step_id = ?1",
            params![step],
        )?;
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
    let rows = connection.query(
        "SELECT step_id, state, started_at, started_by, finished_at, finished_by, reason, forced FROM runbook_steps",
        params![],
    )?;
    let mut records = StepRecords::new();
    for row in rows {
        let state: String = row.get(1)?;
        let state = state
            .parse::<StepState>()
            .map_err(|_| StoreError::Corrupt {
                what: "runbook_steps.state",
                value: state.clone(),
            })?;
        let (started_at, finished_at): (Option<i64>, Option<i64>) = (row.get(2)?, row.get(4)?);
        records.insert(
            row.get(0)?,
            StepRecord {
                state,
                started_at: started_at.map(timestamp).transpose()?,
                started_by: row.get(3)?,
                finished_at: finished_at.map(timestamp).transpose()?,
                finished_by: row.get(5)?,
                reason: row.get(6)?,
                forced: row.get(7)?,
            },
        );
    }
    Ok(records)
}
