//! What changed between the plan a daemon runs and an edited one, for a reload without a restart.
//!
//! [`diff`] compares two plans section by section and says, by id, which checks, people, channels
//! and escalation policies were added, removed or changed, which other sections changed, and which
//! changes cannot apply to a running daemon ([`NotLive`]: the listen address, the data directory,
//! the API tokens, ...). The engine refuses a reload with any of the latter, so nothing is
//! half-applied; otherwise it records the [`PlanChanges`] in the launch log. Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// The plan the running parts follow, as the engine publishes it on a `watch` channel: the plan
/// and its generation (0 at start, one more with every reload). Probe tasks stamp their
/// observations with the generation they were started for, so the engine drops results indexed
/// for an older plan.
#[derive(Debug, Clone)]
pub struct PublishedPlan {
    pub plan: std::sync::Arc<Plan>,
    pub generation: u64,
}

/// A change that a running daemon cannot take: the plan key and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotLive {
    /// The plan key, e.g. `server.listen`.
    pub key: String,
    /// Why it needs a restart.
    pub reason: String,
}

/// Added, removed and changed ids of one kind of plan entry (plan order, old plan's for removed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdChanges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

impl IdChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// `2 added (a, b), 1 removed (c)`, or nothing when nothing changed.
    fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ]
        .into_iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(what, ids)| format!("{} {what} ({})", ids.len(), ids.join(", ")))
        .collect();
        parts.join(", ")
    }
}

/// What a reload changes, as the launch log records it (`decision` entry, event `plan_reloaded`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChanges {
    #[serde(default)]
    pub checks: IdChanges,
    #[serde(default)]
    pub people: IdChanges,
    #[serde(default)]
    pub channels: IdChanges,
    /// `[[escalation]]` policies by name (and `[alerting] policies` as `alerting.policies`).
    #[serde(default)]
    pub escalation: IdChanges,
    /// Other sections that changed, by plan key (`checklist`, `risks`, `runbook`, `reports`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<String>,
}

impl PlanChanges {
    /// Whether the edited plan is the same as the running one (for everything a reload applies).
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
            && self.people.is_empty()
            && self.channels.is_empty()
            && self.escalation.is_empty()
            && self.sections.is_empty()
    }

    /// One line for people: `checks: 1 added (api), 1 removed (web); people: 1 changed (alice)`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "nothing changed".to_string();
        }
        let mut parts: Vec<String> = [
            ("checks", &self.checks),
            ("people", &self.people),
            ("channels", &self.channels),
            ("escalation", &self.escalation),
        ]
        .into_iter()
        .filter(|(_, changes)| !changes.is_empty())
        .map(|(what, changes)| format!("{what}: {}", changes.describe()))
        .collect();
        if !self.sections.is_empty() {
            parts.push(format!("also changed: {}", self.sections.join(", ")));
        }
        parts.join("; ")
    }
}

/// What changed from `old` to `new`, and what of it cannot apply live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanDiff {
    pub changes: PlanChanges,
    /// Changes that need a restart; a reload with any of them is refused whole.
    pub not_live: Vec<NotLive>,
}

/// Compares the running plan with an edited one.
pub fn diff(old: &Plan, new: &Plan) -> PlanDiff {
    let mut changes = PlanChanges {
        checks: by_id(
            &old.checks,
            &new.checks,
            |check| &check.id,
            |a, b| probes_alike(old, a, new, b),
        ),
        people: by_id(&old.people, &new.people, |person| &person.id, PartialEq::eq),
        channels: by_id(
            &old.alerting.channels,
            &new.alerting.channels,
            |channel| &channel.id,
            PartialEq::eq,
        ),
        escalation: by_id(
            &old.alerting.policies,
            &new.alerting.policies,
            |policy| &policy.id,
            PartialEq::eq,
        ),
        sections: Vec::new(),
    };
    if old.alerting.severity_policies != new.alerting.severity_policies {
        changes
            .escalation
            .changed
            .push("alerting.policies".to_string());
    }
    changes.sections = changed_sections(old, new);
    PlanDiff {
        changes,
        not_live: not_live(old, new),
    }
}

/// Whether check `a` of plan `old` probes exactly as check `b` of plan `new`: the same check, and
/// for a prometheus check the same server settings (a changed server changes its checks).
pub fn probes_alike(
    old: &Plan,
    a: &crate::plan::checks::Check,
    new: &Plan,
    b: &crate::plan::checks::Check,
) -> bool {
    a == b && prometheus_server_of(old, a) == prometheus_server_of(new, b)
}

/// The `[[prometheus]]` server a prometheus check queries (a changed server changes its checks).
fn prometheus_server_of<'plan>(
    plan: &'plan Plan,
    check: &crate::plan::checks::Check,
) -> Option<&'plan crate::plan::checks::PrometheusServer> {
    let crate::plan::checks::CheckKind::Prometheus(query) = &check.kind else {
        return None;
    };
    plan.prometheus
        .iter()
        .find(|server| server.id == query.server)
}

fn by_id<T>(
    old: &[T],
    new: &[T],
    id: impl Fn(&T) -> &String,
    same: impl Fn(&T, &T) -> bool,
) -> IdChanges {
    let mut changes = IdChanges::default();
    for entry in new {
        match old.iter().find(|known| id(known) == id(entry)) {
            None => changes.added.push(id(entry).clone()),
            Some(known) if !same(known, entry) => changes.changed.push(id(entry).clone()),
            Some(_) => {}
        }
    }
    changes.removed = old
        .iter()
        .filter(|known| !new.iter().any(|entry| id(entry) == id(known)))
        .map(|known| id(known).clone())
        .collect();
    changes
}

/// Sections (other than checks, people, channels and escalation) whose content changed. Types
/// without `PartialEq` (the time zone inside `[launch]`) are compared by their debug text, which
/// shows every field (secrets only as their source, never a value).
fn changed_sections(old: &Plan, new: &Plan) -> Vec<String> {
    fn text<T: std::fmt::Debug>(value: &T) -> String {
        format!("{value:?}")
    }
    let alerting = |plan: &Plan| {
        let a = &plan.alerting;
        text(&(
            &a.smtp,
            a.group_window,
            a.delivery_max_age,
            &a.fallback_channel,
            a.ack_link_ttl,
            &a.outbox_dir,
        ))
    };
    let compared: [(&str, bool); 13] = [
        ("launch", text(&old.launch) != text(&new.launch)),
        ("checklist", old.checklist != new.checklist),
        ("risks", old.risks != new.risks),
        ("rollback", old.rollback != new.rollback),
        ("prometheus", old.prometheus != new.prometheus),
        ("monitoring", old.monitoring != new.monitoring),
        ("alerting", alerting(old) != alerting(new)),
        ("silences", old.alerting.silences != new.alerting.silences),
        ("runbook", old.runbook != new.runbook),
        ("reports", old.reports != new.reports),
        ("heartbeat", text(&old.heartbeat) != text(&new.heartbeat)),
        ("updates", text(&old.updates) != text(&new.updates)),
        ("review", text(&old.review) != text(&new.review)),
    ];
    compared
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| key.to_string())
        .collect()
}

/// The keys read once at start, which a reload cannot change.
fn not_live(old: &Plan, new: &Plan) -> Vec<NotLive> {
    let restart = "read once at start; restart golive to change it";
    let checks: [(&str, bool, &str); 8] = [
        (
            "launch.data_dir",
            old.launch.data_dir != new.launch.data_dir,
            "the store stays open in the data directory; stop golive, move the directory, and start it again",
        ),
        (
            "server.listen",
            old.server.listen != new.server.listen,
            "the daemon is bound to its address; restart golive to listen elsewhere",
        ),
        (
            "server.tokens",
            old.server.tokens != new.server.tokens,
            "API tokens are resolved at start and a reload must not lock out the caller; restart golive to change them",
        ),
        (
            "alerting.ack_link_secret",
            old.alerting.ack_link_secret != new.alerting.ack_link_secret,
            "acknowledgement links already sent are signed with the current key; restart golive to change it",
        ),
        (
            "alerting.public_url",
            old.alerting.public_url != new.alerting.public_url,
            restart,
        ),
        (
            "monitoring.max_concurrent_probes",
            old.monitoring.max_concurrent_probes != new.monitoring.max_concurrent_probes,
            restart,
        ),
        (
            "heartbeat",
            text_differs(&old.heartbeat, &new.heartbeat),
            restart,
        ),
        (
            "store",
            old.store != new.store,
            "the store stays open on its database; restart golive to move it",
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, changed, _)| *changed)
        .map(|(key, _, reason)| NotLive {
            key: key.to_string(),
            reason: reason.to_string(),
        })
        .collect()
}

fn text_differs<T: std::fmt::Debug>(old: &T, new: &T) -> bool {
    format!("{old:?}") != format!("{new:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Plan {
        crate::plan::parse(
            text,
            std::path::Path::new("/tmp/golive-plan-diff/plan.toml"),
        )
        .unwrap_or_else(|diagnostics| panic!("test plan: {diagnostics:?}"))
        .plan
    }

    const BASE: &str = r#"
[launch]
name = "Shop"
timezone = "Europe/Berlin"
go_live = "2030-01-01T10:00:00+01:00"
data_dir = "data"
hypercare_days = 3

[[people]]
id = "alice"
name = "Alice"
role = "ops_lead"
email = "alice@example.com"

[[checks]]
id = "web"
name = "Web"
kind = "tcp"
address = "127.0.0.1:1"

[[checks]]
id = "db"
name = "Database"
kind = "tcp"
address = "127.0.0.1:2"
"#;

    #[test]
    fn the_same_plan_changes_nothing() {
        let diff = diff(&plan(BASE), &plan(BASE));
        assert!(diff.changes.is_empty());
        assert!(diff.not_live.is_empty());
        assert_eq!(diff.changes.summary(), "nothing changed");
    }

    #[test]
    fn checks_are_compared_by_id_not_position() {
        let edited = BASE
            .replace("127.0.0.1:2", "127.0.0.1:3")
            .replace("id = \"web\"", "id = \"api\"");
        let diff = diff(&plan(BASE), &plan(&edited));
        assert_eq!(diff.changes.checks.added, vec!["api"]);
        assert_eq!(diff.changes.checks.removed, vec!["web"]);
        assert_eq!(diff.changes.checks.changed, vec!["db"]);
        assert_eq!(
            diff.changes.summary(),
            "checks: 1 added (api), 1 removed (web), 1 changed (db)"
        );
    }

    #[test]
    fn people_and_other_sections_are_named() {
        let edited = BASE.replace("alice@example.com", "alice@example.org")
            + "\n[[checklist]]\nid = \"backup\"\ntitle = \"Backup taken\"\nowner = \"alice\"\n";
        let diff = diff(&plan(BASE), &plan(&edited));
        assert_eq!(diff.changes.people.changed, vec!["alice"]);
        assert_eq!(diff.changes.sections, vec!["checklist"]);
        assert!(diff.not_live.is_empty());
    }

    #[test]
    fn the_listen_address_and_data_dir_cannot_change_live() {
        let edited = BASE.replace("data_dir = \"data\"", "data_dir = \"elsewhere\"")
            + "\n[server]\nlisten = \"127.0.0.1:9999\"\n";
        let diff = diff(&plan(BASE), &plan(&edited));
        let keys: Vec<&str> = diff.not_live.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, vec!["launch.data_dir", "server.listen"]);
    }

    #[test]
    fn the_store_cannot_move_live() {
        let edited = format!("{BASE}\n[store]\nurl = {{ env = \"GOLIVE_PLAN_DATABASE_URL\" }}\n");
        let diff = diff(&plan(BASE), &plan(&edited));
        let keys: Vec<&str> = diff.not_live.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, vec!["store"]);
    }
}
