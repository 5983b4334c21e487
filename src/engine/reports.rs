//! Sending the daily and final reports. The engine decides from `clock.now()` and the reports the
//! store recorded whether one is due — at every loop turn once the next send instant has passed,
//! which the housekeeping tick and the deadline timer guarantee — so catch-up after downtime and
//! a clock that jumps forward both work. A report's outbox row and its `reports_sent` record are
//! written in one transaction (and a unique index forbids a second scheduled report of a day), so
//! each scheduled report goes out exactly once; the dispatcher delivers it.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::{Engine, EngineError, block};
use crate::error_chain::error_chain;
use crate::plan::Plan;
use crate::report::compose::{self, ComposeError, ReportKind};
use crate::report::email::report_email;
use crate::report::schedule;
use crate::store::alerts::NewOutboxRow;
use crate::store::reports::{NewReportRecord, ReportRecord};
use crate::store::{Store, StoreError};

/// After a report could not be composed or recorded, wait this long before trying again.
const RETRY_AFTER: SignedDuration = SignedDuration::from_mins(5);

/// What the engine knows about reports.
pub(super) struct ReportState {
    /// Daily reports the schedule already sent, by local day.
    daily_sent: HashSet<Date>,
    final_sent: bool,
    /// Nothing is due before this (the next send instant, or a retry after a failure).
    next_check: Option<Timestamp>,
    /// The first hour (Unix hours) not yet merged into the hourly history.
    hours_until: Option<i64>,
    /// The phase at the last look, to look again at once when it changes.
    phase_seen: Option<crate::domain::Phase>,
}

impl ReportState {
    /// Loads what the store recorded.
    pub(super) fn load(store: &Store) -> Result<ReportState, StoreError> {
        let mut daily_sent = HashSet::new();
        let mut final_sent = false;
        for (kind, day) in store.scheduled_reports()? {
            match kind.as_str() {
                "final" => final_sent = true,
                _ => {
                    if let Ok(day) = day.parse::<Date>() {
                        daily_sent.insert(day);
                    }
                }
            }
        }
        let hours_until = match store.hours_rolled_up_until()? {
            Some(until) => Some(until),
            None => store.first_minute()?.map(|minute| minute.div_euclid(60)),
        };
        Ok(ReportState {
            phase_seen: None,
            hours_until,
            daily_sent,
            final_sent,
            next_check: None,
        })
    }
}

/// How a report was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

/// When action-item reminders go out: at the report time when the plan has `[reports]`, else 09:00.
pub fn reminder_time(plan: &Plan) -> jiff::civil::Time {
    plan.reports
        .as_ref()
        .map_or(crate::plan::reports::DEFAULT_SEND_TIME, |reports| {
            reports.time
        })
}

/// Why a report was not sent.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the plan has no [reports] section; add one with `to = [...]` to send reports")]
    NotConfigured,
    #[error("cannot compose the report")]
    Compose(#[from] ComposeError),
    #[error("cannot open a reading connection to the store")]
    NoReader(#[source] StoreError),
}

impl Engine {
    /// The next instant a report may be due (for the loop's timer).
    pub(super) fn report_deadline(&self) -> Option<Timestamp> {
        self.plan.reports.as_ref()?;
        Some(self.reports.next_check.unwrap_or_else(|| self.clock.now()))
    }

    /// Merges finished hours of check history into the hourly history reports read (a day at a
    /// time at most, so catching up after a long downtime never blocks the engine for long).
    /// An hour is merged two minutes after it ends, once its last minute was written.
    fn roll_up_hours(&mut self) {
        let now_minute = self.clock.now().as_second().div_euclid(60);
        let ready = (now_minute - 2).div_euclid(60);
        let Some(from) = self.reports.hours_until else {
            // No history yet: merging starts with the hours to come.
            self.reports.hours_until = Some(ready);
            return;
        };
        if ready <= from {
            return;
        }
        let to = ready.min(from + 24);
        // Finished minutes still in memory (a clock that jumped, a busy engine) go to the store
        // first, so the hours merged include them.
        self.housekeeping(false);
        let plan = Arc::clone(&self.plan);
        let ids = plan.checks.iter().map(|check| check.id.as_str());
        match block(|| self.store.roll_up_hours(ids, from, to)) {
            Ok(_) => self.reports.hours_until = Some(to),
            Err(error) => {
                self.store_trouble(&error);
                tracing::error!(error = %error_chain(&error), "could not merge check history into hours; reports read minutes meanwhile");
            }
        }
    }

    /// Sends the report due now, if any: the final report once the launch has ended, else the
    /// latest daily report whose send instant passed and that was not sent.
    pub(super) fn send_due_reports(&mut self) {
        self.roll_up_hours();
        let Some(reports) = self.plan.reports.clone() else {
            return;
        };
        let now = self.clock.now();
        // A phase change may make a report due at once (the final one); otherwise nothing is due
        // before the next send instant (or the retry after a failure).
        let phase_changed = self.reports.phase_seen != Some(self.state.phase);
        if !phase_changed && self.reports.next_check.is_some_and(|next| now < next) {
            return;
        }
        self.reports.phase_seen = Some(self.state.phase);
        let tz = self.plan.launch.timezone.clone();
        let outcome = if self.state.phase.is_terminal() {
            if self.reports.final_sent {
                Ok(None)
            } else {
                let late = now.duration_since(self.state.phase_since) > schedule::LATE_AFTER;
                self.send_report(ReportKind::Final, late, Trigger::Schedule)
                    .map(Some)
            }
        } else {
            let due = schedule::due_daily(
                now,
                reports.time,
                &tz,
                &reports.phases,
                self.state.phase,
                self.state.phase_since,
                |day| self.reports.daily_sent.contains(&day),
            );
            match due {
                Some(due) => self
                    .send_report(ReportKind::Daily(due.day), due.late, Trigger::Schedule)
                    .map(Some),
                None => Ok(None),
            }
        };
        self.reports.next_check = Some(match outcome {
            Ok(_) => schedule::next_send(now, reports.time, &tz),
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "could not send a due report; will retry in 5 minutes");
                now.checked_add(RETRY_AFTER).unwrap_or(Timestamp::MAX)
            }
        });
    }

    /// `golive report send`: the daily report of `day` (default: the day in progress) or the
    /// final report, now, recorded as a manual send.
    pub(super) fn send_report_now(
        &mut self,
        day: Option<Date>,
        final_report: bool,
    ) -> Result<ReportRecord, EngineError> {
        let reports = self
            .plan
            .reports
            .clone()
            .ok_or_else(|| EngineError::Unavailable(ReportError::NotConfigured.to_string()))?;
        let kind = if final_report {
            ReportKind::Final
        } else {
            ReportKind::Daily(day.unwrap_or_else(|| {
                schedule::day_in_progress(
                    self.clock.now(),
                    reports.time,
                    &self.plan.launch.timezone,
                )
            }))
        };
        self.send_report(kind, false, Trigger::Manual)
            .map_err(|error| match error {
                SendError::Store(error) => EngineError::Store(error),
                SendError::Report(ReportError::NotConfigured) => {
                    EngineError::Unavailable(ReportError::NotConfigured.to_string())
                }
                // The plan's own templates do not render: the person sending can fix that, so
                // the answer says which template and why (it holds nothing but the template's
                // name and minijinja's message).
                SendError::Report(ReportError::Compose(ComposeError::Render(error))) => {
                    EngineError::Unavailable(format!(
                        "cannot render the report: {}",
                        error_chain(&error)
                    ))
                }
                other => EngineError::Failed(error_chain(&other)),
            })
    }

    fn send_report(
        &mut self,
        kind: ReportKind,
        late: bool,
        trigger: Trigger,
    ) -> Result<ReportRecord, SendError> {
        // The minutes finished so far go to the store first, so the report sees them.
        self.housekeeping(false);
        let now = self.clock.now();
        let plan = Arc::clone(&self.plan);
        // A reading connection for gathering (the engine's own connection writes), opened for
        // the report only: held for the life of the daemon, it kept its SQLite caches (about
        // 0.2 MB) for a report sent once a day.
        let reader = block(|| self.store.reader()).map_err(ReportError::NoReader)?;
        let composed = block(|| match kind {
            ReportKind::Daily(day) => {
                compose::daily(&reader, &plan, day, now, late).map(|(_, c)| c)
            }
            ReportKind::Final => compose::final_report(&reader, &plan, now, late).map(|(_, c)| c),
        });
        drop(reader);
        let composed = match composed {
            Ok(composed) => composed,
            Err(error) => {
                self.count_report(kind, "failed");
                return Err(ReportError::Compose(error).into());
            }
        };
        let email = report_email(&plan, &composed, &self.message_ids);
        let channel = plan
            .reports
            .as_ref()
            .map(|reports| reports.channel.clone())
            .unwrap_or_default();
        let recipients: Vec<String> = email
            .to
            .iter()
            .map(|(_, address)| address.clone())
            .collect();
        // One copy per recipient, each with its own feedback link (`engine::feedback`).
        let about = match kind {
            ReportKind::Daily(day) => format!("daily {day}"),
            ReportKind::Final => "final".to_string(),
        };
        let rows: Vec<NewOutboxRow> = self
            .personal_copies(&email, &about, now)
            .into_iter()
            .map(|copy| NewOutboxRow {
                created_at: now,
                not_before: now,
                channel: channel.clone(),
                kind: crate::notify::OutboxKind::Report,
                alert_id: None,
                group_key: None,
                payload: crate::notify::OutboxPayload::email(copy),
            })
            .collect();
        let mut record = NewReportRecord {
            kind: kind.as_str().to_string(),
            day: composed.day.to_string(),
            trigger: trigger.as_str().to_string(),
            recipients,
            message_id: email.message_id.clone(),
            sent_at: now,
            late,
            outbox_id: None,
        };
        let written = block(|| {
            self.store.write(|write| {
                for row in &rows {
                    let id = write.enqueue(row)?;
                    record.outbox_id.get_or_insert(id);
                }
                let id = write.record_report(&record)?;
                Ok(id)
            })
        });
        let id = match written {
            Ok(id) => id,
            Err(error) => {
                self.count_report(kind, "failed");
                self.store_trouble(&error);
                return Err(SendError::Store(error));
            }
        };
        if trigger == Trigger::Schedule {
            match kind {
                ReportKind::Daily(day) => {
                    self.reports.daily_sent.insert(day);
                }
                ReportKind::Final => self.reports.final_sent = true,
            }
        }
        if !rows.is_empty() {
            self.outbox_written.notify_one();
            self.count_report(kind, "sent");
        } else {
            self.count_report(kind, "no_recipients");
            tracing::warn!(kind = kind.as_str(), day = %composed.day, "report recorded but sent to nobody: none of its recipients has an email address");
        }
        self.metrics
            .report_last
            .with_label_values(&[kind.as_str()])
            .set(now.as_millisecond() as f64 / 1000.0);
        tracing::info!(kind = kind.as_str(), day = %composed.day, trigger = trigger.as_str(), late, recipients = record.recipients.len(), "report queued");
        Ok(ReportRecord {
            id,
            kind: record.kind,
            day: record.day,
            trigger: record.trigger,
            recipients: record.recipients,
            message_id: record.message_id,
            sent_at: now,
            late,
            outbox_id: record.outbox_id,
        })
    }

    fn count_report(&self, kind: ReportKind, result: &str) {
        self.metrics
            .reports
            .with_label_values(&[kind.as_str(), result])
            .inc();
    }
}

/// A failed send.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cannot record the report")]
    Store(#[source] StoreError),
}
