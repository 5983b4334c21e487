//! Active/standby on PostgreSQL, as the launch knows it: when a member takes the lease it records
//! who became active and when (a `decision` entry by golive naming the member, its lease epoch and
//! URL), and after a failover (the lease came from another member) the ops lead hears of it through
//! every email and chat channel, in the same transaction, so a takeover is told exactly once.
//! A record the store cannot write at once (the database just failed over too, a lock held) is
//! kept and tried again with backoff from the engine's loop, a bounded number of times, without
//! holding up probing and escalation meanwhile; each attempt first looks, in its transaction,
//! whether an earlier one was committed though its answer was lost (waiting, under a lock keyed
//! by the epoch, for one still committing), so the record is written once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::log::{LogData, LogKind, NewEntry};
use crate::core::message::GoliveBody;
use crate::engine::alerts::{enqueue_all, outbox_rows};
use crate::engine::{Engine, block};
use crate::error_chain::error_chain;
use crate::notify::OutboxKind;
use crate::plan::alerting::Recipient;
use crate::plan::recipients::resolve_recipients;
use crate::report::notice;
use crate::store::StoreTrouble;
use crate::store::alerts::NewOutboxRow;

/// How often a takeover record is tried in all before it is given up (logged as an error).
const TAKEOVER_ATTEMPTS: u32 = 8;
/// The wait before the second attempt; it doubles after each failure, up to [`RETRY_AT_MOST`]
/// (about two minutes in all).
const FIRST_RETRY: Duration = Duration::from_secs(1);
const RETRY_AT_MOST: Duration = Duration::from_secs(30);

/// A takeover record not written yet: the same entry and notice each attempt.
pub(super) struct PendingTakeover {
    rows: Vec<NewOutboxRow>,
    entry: NewEntry,
    /// The lease's epoch, and what the entry's text says of it (`(lease epoch N)`): how a retry
    /// finds a record that was committed though its answer was lost (or is still committing).
    epoch: i64,
    marker: String,
    /// Attempts made so far.
    attempts: u32,
    next_at: Instant,
}

/// A member's takeover of the lease.
#[derive(Debug, Clone)]
pub struct Takeover {
    /// This member (`host:data-dir`).
    pub member: String,
    pub epoch: i64,
    /// Where this member is reached.
    pub url: String,
    /// The member that held the lease before, when another one (a failover); `None` on a first
    /// start or a restart of the same member.
    pub previous: Option<String>,
}

impl Engine {
    /// Records the takeover (see the module documentation). A store that cannot write it is
    /// not fatal (the daemon is active either way): the record is tried again with backoff.
    pub fn record_takeover(&mut self, takeover: &Takeover) {
        let now = self.clock.now();
        let plan = Arc::clone(&self.plan);
        let marker = format!("(lease epoch {})", takeover.epoch);
        let text = format!(
            "golive on {} became the active daemon {marker}, advertised at {}{}",
            takeover.member,
            takeover.url,
            takeover
                .previous
                .as_ref()
                .map(|previous| format!("; it took over from {previous}"))
                .unwrap_or_default()
        );
        let rows = match &takeover.previous {
            None => Vec::new(),
            Some(_) => {
                let ops =
                    resolve_recipients(&plan, &[Recipient::Role(crate::domain::Role::OpsLead)]);
                let notice = notice::Notice::plain(
                    format!("[WARNING] {}: golive failed over", plan.launch.name),
                    text.clone(),
                    GoliveBody::warning(&plan.launch.name, &text),
                );
                let payloads = notice::through_channels(
                    &plan,
                    &self.message_ids,
                    &notice::mailboxes(&ops),
                    &notice,
                    "golive-warning",
                );
                outbox_rows(payloads, OutboxKind::Warning, None, now)
            }
        };
        let entry = NewEntry::by_golive(now, LogKind::Decision, text, LogData::None);
        self.takeover = Some(PendingTakeover {
            rows,
            entry,
            epoch: takeover.epoch,
            marker,
            attempts: 0,
            next_at: Instant::now(),
        });
        self.retry_takeover_record();
    }

    /// Writes the pending takeover record when its attempt is due (every turn of the loop looks).
    pub(super) fn retry_takeover_record(&mut self) {
        let Some(pending) = self.takeover.as_mut() else {
            return;
        };
        if Instant::now() < pending.next_at {
            return;
        }
        pending.attempts += 1;
        let (rows, entry, marker) = (&pending.rows, &pending.entry, &pending.marker);
        let epoch = pending.epoch;
        let store = &mut self.store;
        let written = block(|| {
            store.write(|write| {
                // Recorded already: an earlier attempt's commit went through, its answer did not.
                if write.has_takeover_record(epoch, marker)? {
                    return Ok(false);
                }
                enqueue_all(write, rows)?;
                write.log(entry)?;
                Ok(true)
            })
        });
        let error = match written {
            Ok(written) => {
                let notified = written && !pending.rows.is_empty();
                tracing::info!(
                    attempts = pending.attempts,
                    already = !written,
                    "recorded the takeover"
                );
                self.takeover = None;
                if notified {
                    self.wake_dispatcher();
                }
                return;
            }
            Err(error) => error,
        };
        let attempts = pending.attempts;
        // Fenced: another member is active now and records its own takeover.
        let last = attempts >= TAKEOVER_ATTEMPTS || error.trouble() == StoreTrouble::Fenced;
        let wait = FIRST_RETRY
            .saturating_mul(1 << (attempts - 1).min(16))
            .min(RETRY_AT_MOST);
        pending.next_at = Instant::now() + wait;
        self.store_trouble(&error);
        if last {
            self.takeover = None;
            tracing::error!(error = %error_chain(&error), attempts, "could not record the takeover; given up");
        } else {
            tracing::warn!(error = %error_chain(&error), attempts, retry_in = ?wait, "could not record the takeover; trying again");
        }
    }
}
