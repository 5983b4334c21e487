//! Message-IDs: one maker for every email golive sends, unique across launches and threadable.
//!
//! An id is `<what>.<unique>.<launch>@<domain>`: `launch` is the store's random identity (made
//! once when the data directory's store is created), so a rehearsal and the real launch from the
//! same domain never share an id, and `domain` is the From address's domain (RFC 5322 asks for a
//! domain the sender controls). Every email gets an id of its own. Threads: every email about an
//! alert names the alert's root ([`MessageIds::alert_root`], never sent itself) first in
//! `References`, so a shared mailbox or a forwarded page threads across people; and an alert's
//! emails to one person answer the first email that person got about it
//! ([`MessageIds::alert_thread`], derived from the alert, the person and the launch, so a restart
//! keeps the thread) in `In-Reply-To` and `References`, which is what clients that thread only on
//! messages they hold need.

use sha2::{Digest, Sha256};

use crate::plan::Plan;

/// Makes the Message-IDs of one launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIds {
    /// The store's identity (hex), or a random value where there is no store (preflight).
    launch: String,
    domain: String,
}

impl MessageIds {
    /// Ids for the launch whose store identity is `launch` (see `Store::identity`).
    pub fn new(plan: &Plan, launch: &str) -> MessageIds {
        MessageIds {
            launch: sanitize(launch),
            domain: mail_domain(plan),
        }
    }

    /// Ids for a run without a store (`golive preflight`): a random launch part.
    pub fn ephemeral(plan: &Plan) -> MessageIds {
        MessageIds::new(plan, &crate::random::hex::<8>())
    }

    /// A new, never repeated id for a message of kind `what` (e.g. `report-daily`, `warning`).
    pub fn fresh(&self, what: &str) -> String {
        format!(
            "{}.{}.{}@{}",
            sanitize(what),
            crate::random::hex::<6>(),
            self.launch,
            self.domain
        )
    }

    /// The alert's own root: first in the `References` of every email about it.
    pub fn alert_root(&self, alert_id: i64) -> String {
        format!("alert-{alert_id}.{}@{}", self.launch, self.domain)
    }

    /// The root of alert `alert_id`'s thread for `recipient` (a person id or address): the id of
    /// the first email that recipient gets about the alert, referenced by every later one.
    pub fn alert_thread(&self, alert_id: i64, recipient: &str) -> String {
        let digest = Sha256::digest(recipient.as_bytes());
        format!(
            "alert-{alert_id}.{}.{}@{}",
            crate::random::to_hex(&digest[..4]),
            self.launch,
            self.domain
        )
    }

    /// The id of a message of the launch that exists once (`review-invitation`), the review
    /// meeting's iCalendar UID (`review-meeting`), and the never-sent root of the launch's
    /// stakeholder updates (`updates`, first in every update's `References`, so they thread):
    /// stable across restarts.
    pub fn once(&self, what: &str) -> String {
        format!("{}.{}@{}", sanitize(what), self.launch, self.domain)
    }

    /// The domain ids end in.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

/// The From address's domain, else `golive.local`.
pub fn mail_domain(plan: &Plan) -> String {
    plan.alerting
        .smtp
        .as_ref()
        .and_then(|smtp| smtp.from.rsplit_once('@'))
        .map(|(_, domain)| sanitize(domain.trim_end_matches('>')))
        .filter(|domain| !domain.is_empty())
        .unwrap_or_else(|| "golive.local".to_string())
}

/// Keeps what an id may hold (RFC 5322 dot-atom text, without characters that need care).
fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(launch: &str) -> MessageIds {
        MessageIds {
            launch: launch.to_string(),
            domain: "shop.example".to_string(),
        }
    }

    #[test]
    fn fresh_ids_never_repeat_and_carry_the_launch_and_domain() {
        let ids = ids("0a1b2c3d4e5f6071");
        let first = ids.fresh("report-daily");
        assert_ne!(first, ids.fresh("report-daily"));
        assert!(first.starts_with("report-daily."), "{first}");
        assert!(first.ends_with(".0a1b2c3d4e5f6071@shop.example"), "{first}");
    }

    #[test]
    fn an_alert_thread_is_stable_per_person_and_differs_between_launches() {
        let rehearsal = ids("1111111111111111");
        let launch = ids("2222222222222222");
        assert_eq!(
            rehearsal.alert_thread(1, "bob"),
            rehearsal.alert_thread(1, "bob")
        );
        assert_ne!(
            rehearsal.alert_thread(1, "bob"),
            rehearsal.alert_thread(1, "alice")
        );
        assert_ne!(
            rehearsal.alert_thread(1, "bob"),
            launch.alert_thread(1, "bob")
        );
        assert_ne!(
            rehearsal.alert_thread(1, "bob"),
            rehearsal.alert_thread(2, "bob")
        );
    }

    #[test]
    fn odd_characters_never_reach_an_id() {
        let ids = ids("abcd");
        let id = ids.fresh("what ever@x<y>");
        assert!(
            !id.contains(' ') && !id.contains('<') && !id.contains('>'),
            "{id}"
        );
        assert_eq!(id.matches('@').count(), 1, "{id}");
    }
}
