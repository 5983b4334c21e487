//! Active/standby on PostgreSQL, as the launch knows it: when a member takes the lease it records
//! who became active and when (a `decision` entry by golive naming the member, its lease epoch and
//! URL), and after a failover (the lease came from another member) the ops lead hears of it through
//! every email and chat channel, in the same transaction, so a takeover is told exactly once.

use std::sync::Arc;

use crate::core::log::{LogData, LogKind, NewEntry};
use crate::core::message::GoliveBody;
use crate::engine::alerts::{enqueue_all, outbox_rows};
use crate::engine::{Engine, block};
use crate::error_chain::error_chain;
use crate::notify::OutboxKind;
use crate::plan::alerting::Recipient;
use crate::plan::recipients::resolve_recipients;
use crate::report::notice;

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
    /// logged, not fatal: the daemon is active either way.
    pub fn record_takeover(&mut self, takeover: &Takeover) {
        let now = self.clock.now();
        let plan = Arc::clone(&self.plan);
        let text = format!(
            "golive on {} became the active daemon (lease epoch {}), advertised at {}{}",
            takeover.member,
            takeover.epoch,
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
        let written = block(|| {
            self.store.write(|write| {
                enqueue_all(write, &rows)?;
                write.log(&entry)?;
                Ok(())
            })
        });
        match written {
            Ok(()) if !rows.is_empty() => self.wake_dispatcher(),
            Ok(()) => {}
            Err(error) => {
                self.store_trouble(&error);
                tracing::error!(error = %error_chain(&error), "could not record the takeover");
            }
        }
    }
}
